"""NPS as pure rules: categories, the report maths of data-model 9.5, what a response adds to the
counters, and the events a change of a response makes."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules.nps import category_of, nps, weighted_nps
from closeloop.rules.nps_counters import NPS_METRIC, STATS, WAVE, Target, contribution, delta, survey_scopes, total
from closeloop.rules.response_events import response_events
from tests.support import load_event

RESPONSE = {
    "response_id": "k3v7aaaaaaaaaaaaaaaaaaaaaa",
    "contact_id": "01JCONTACT",
    "wave_id": "01JWAVE",
    "segment": "pharmacy",
    "language": "fr",
    "month": "2027-03",
    "weight": Decimal("1.5"),
    "score": Decimal(3),
    "category": "detractor",
    "confirmed": True,
    "has_comment": True,
    "comment": "Livraisons en retard.",
    "updated_at": "2027-03-02T09:30:00.000000+0000",
}


@pytest.mark.parametrize(("score", "category"), [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive")])
def test_scores_up_to_6_are_detractors_7_and_8_passives(score: int, category: str) -> None:
    assert category_of(score) == category


@pytest.mark.parametrize("score", [9, 10])
def test_9_and_10_are_promoters(score: int) -> None:
    assert category_of(score) == "promoter"


@pytest.mark.parametrize("score", [-1, 11, 7.5, True, "7"])
def test_anything_but_a_whole_score_from_0_to_10_is_refused(score: object) -> None:
    with pytest.raises(ValueError, match="0 to 10"):
        category_of(score)  # type: ignore[arg-type]


def test_nps_is_promoters_minus_detractors_with_its_95_percent_margin() -> None:
    # 50 promoters, 30 passives, 20 detractors: p = .5, d = .2
    score = nps(50, 30, 20)
    assert score.nps == pytest.approx(30.0)
    assert score.margin == pytest.approx(100 * 1.96 * math.sqrt((0.5 + 0.2 - 0.3**2) / 100))
    assert score.margin == pytest.approx(15.31, abs=0.01)


def test_below_the_minimum_base_the_score_is_insufficient_never_a_number() -> None:
    score = nps(20, 5, 4)
    assert score.insufficient_base
    assert (score.nps, score.margin, score.base) == (None, None, 29)
    assert nps(0, 0, 0).insufficient_base


def test_equal_weights_give_the_unweighted_score_and_base() -> None:
    plain = nps(50, 30, 20)
    weighted = weighted_nps(Decimal(100), Decimal(60), Decimal(40), Decimal(400))  # 100 weights of 2
    assert weighted.nps == pytest.approx(plain.nps)
    assert weighted.base == pytest.approx(100)
    assert weighted.margin == pytest.approx(plain.margin)


def test_unequal_weights_shrink_the_effective_base_kish() -> None:
    # 40 responses of weight 1 and 10 of weight 5: W = 90, sum w^2 = 290, n_eff = 8100 / 290
    weighted = weighted_nps(Decimal(50), Decimal(20), Decimal(20), Decimal(290), minimum_base=20)
    assert weighted.base == pytest.approx(8100 / 290)
    assert weighted.nps == pytest.approx(100 * (50 - 20) / 90)
    assert weighted_nps(Decimal(50), Decimal(20), Decimal(20), Decimal(290)).insufficient_base  # n_eff 27.9 < 30


def test_a_response_counts_in_the_nine_survey_scopes_and_its_wave() -> None:
    counts = contribution(RESPONSE)
    scopes = {target.key for target in counts if target.table == STATS}
    assert scopes == {
        "all",
        "wave#01JWAVE",
        "segment#pharmacy",
        "language#fr",
        "month#2027-03",
        "month#2027-03/segment#pharmacy",
        "month#2027-03/language#fr",
        "wave#01JWAVE/segment#pharmacy",
        "wave#01JWAVE/language#fr",
    }
    assert counts[Target(STATS, "all", NPS_METRIC)] == {
        "n_det_c": 1,
        "w_det_c": Decimal("1.5"),
        "w2_c": Decimal("2.25"),
        "comment_c": 1,
    }
    assert counts[Target(WAVE, "01JWAVE")] == {"responded": 1, "responded_confirmed": 1}


def test_an_unconfirmed_response_counts_apart_and_not_as_confirmed_on_its_wave() -> None:
    counts = contribution({**RESPONSE, "confirmed": False, "has_comment": False, "category": "promoter"})
    assert counts[Target(STATS, "all", NPS_METRIC)] == {
        "n_pro_u": 1,
        "w_pro_u": Decimal("1.5"),
        "w2_u": Decimal("2.25"),
    }
    assert counts[Target(WAVE, "01JWAVE")] == {"responded": 1}


def test_a_score_change_across_categories_moves_the_response_and_counts_nothing_twice() -> None:
    changed = {**RESPONSE, "score": Decimal(9), "category": "promoter"}
    moved = delta(changed, RESPONSE)
    assert moved[Target(STATS, "all", NPS_METRIC)] == {
        "n_det_c": -1,
        "w_det_c": Decimal("-1.5"),
        "n_pro_c": 1,
        "w_pro_c": Decimal("1.5"),
    }
    assert Target(WAVE, "01JWAVE") not in moved  # still one response


def test_confirming_an_unconfirmed_response_moves_it_from_u_to_c_and_adds_the_confirmed_response() -> None:
    moved = delta(RESPONSE, {**RESPONSE, "confirmed": False})
    assert moved[Target(STATS, "all", NPS_METRIC)]["n_det_u"] == -1
    assert moved[Target(STATS, "all", NPS_METRIC)]["n_det_c"] == 1
    assert moved[Target(WAVE, "01JWAVE")] == {"responded_confirmed": 1}


def test_erasing_the_comment_moves_no_counter() -> None:
    erased = {key: value for key, value in RESPONSE.items() if key != "comment"} | {"erased_at": "2028-01-01"}
    assert delta(erased, RESPONSE) == {}


def test_a_bad_weight_counts_one_and_a_response_without_category_or_score_counts_nothing() -> None:
    assert contribution({**RESPONSE, "weight": "heavy"})[Target(STATS, "all", NPS_METRIC)]["w_det_c"] == 1
    assert contribution({**RESPONSE, "weight": Decimal(-2)})[Target(STATS, "all", NPS_METRIC)]["w_det_c"] == 1
    assert contribution({**RESPONSE, "category": None, "score": None}) == {}


def test_a_response_without_segment_or_month_counts_in_the_scopes_it_has() -> None:
    assert survey_scopes("W", None, "en", None) == ["all", "wave#W", "language#en", "wave#W/language#en"]


items = st.fixed_dictionaries(
    {
        "wave_id": st.sampled_from(["W1", "W2"]),
        "segment": st.sampled_from(["pharmacy", "hospital"]),
        "language": st.sampled_from(["fr", "en"]),
        "month": st.sampled_from(["2027-03", "2027-04"]),
        "weight": st.decimals(min_value=0, max_value=50, places=4),
        "score": st.integers(0, 10),
        "confirmed": st.booleans(),
        "has_comment": st.booleans(),
    }
).map(lambda item: {**item, "category": category_of(item["score"])})


@given(st.lists(st.tuples(items, items), max_size=12))
def test_summed_deltas_of_any_changes_equal_the_recount_of_the_final_items(changes) -> None:
    # each pair is (first version, later version) of one response: INSERT, then MODIFY
    applied: dict = {}
    for first, later in changes:
        for step in (delta(first, None), delta(later, first)):
            for target, values in step.items():
                for name, value in values.items():
                    applied.setdefault(target, {})[name] = applied.get(target, {}).get(name, 0) + value
    cleaned = {t: {n: v for n, v in values.items() if v != 0} for t, values in applied.items()}
    assert {t: v for t, v in cleaned.items() if v} == total(later for _first, later in changes)


def test_a_new_response_is_captured_with_ids_and_categories_and_nothing_personal() -> None:
    [event] = response_events("e1", "INSERT", RESPONSE, None, "2027-03-02T09:30:00+00:00")
    assert event.name == "ResponseCaptured"
    assert event.detail == {
        "event_id": "e1:ResponseCaptured",
        "occurred_at": "2027-03-02T09:30:00+00:00",
        "schema": 1,
        "response_id": "k3v7aaaaaaaaaaaaaaaaaaaaaa",
        "wave_id": "01JWAVE",
        "contact_id": "01JCONTACT",
        "category": "detractor",
        "confirmed": True,
        "has_comment": True,
        "segment": "pharmacy",
        "language": "fr",
    }


def test_a_changed_score_comment_and_confirmation_are_named_without_their_values() -> None:
    old = {**RESPONSE, "confirmed": False, "has_comment": False, "comment": None}
    [event] = response_events("e2", "MODIFY", {**RESPONSE, "score": Decimal(9), "category": "promoter"}, old, "t")
    assert event.name == "ResponseChanged"
    assert event.detail["changed"] == ["score", "comment", "confirmation"]
    assert (event.detail["category"], event.detail["previous_category"]) == ("promoter", "detractor")
    assert "score" not in event.detail
    assert "comment" not in event.detail


def test_an_edited_comment_text_is_a_change_but_a_lock_or_an_erasure_is_none() -> None:
    [edited] = response_events("e3", "MODIFY", {**RESPONSE, "comment": "Plus de retard."}, RESPONSE, "t")
    assert edited.detail["changed"] == ["comment"]
    assert response_events("e4", "MODIFY", {**RESPONSE, "locked_at": "2027-03-03"}, RESPONSE, "t") == []
    erased = {**RESPONSE, "comment": None, "erased_at": "2028-01-01"}
    assert response_events("e5", "MODIFY", erased, RESPONSE, "t") == []
    assert response_events("e6", "REMOVE", None, RESPONSE, "t") == []


def test_the_sample_stream_record_of_a_confirmed_click_moves_its_counters_and_names_its_changes() -> None:
    # A promoted click (8, unconfirmed) confirmed by the person's POST with 4 and a comment
    [record] = [DynamoDBRecord(raw) for raw in load_event("dynamodb/responses-modify.json")["Records"]]
    new, old = record.dynamodb.new_image, record.dynamodb.old_image

    moved = delta(new, old)
    assert moved[Target(STATS, "month#2026-11/segment#pharmacy", NPS_METRIC)] == {
        "n_pas_u": -1,
        "w_pas_u": Decimal("-1.5"),
        "w2_u": Decimal("-2.25"),
        "n_det_c": 1,
        "w_det_c": Decimal("1.5"),
        "w2_c": Decimal("2.25"),
        "comment_c": 1,
    }
    assert moved[Target(WAVE, "01JD2Q5R0000000000000000W1")] == {"responded_confirmed": 1}
    [event] = response_events(str(record.event_id), "MODIFY", new, old, "2026-11-22T10:12:00+00:00")
    assert event.detail["event_id"] == "7f9e2c1a0b3d4e5f8a6b7c9d0e1f2a3b:ResponseChanged"
    assert event.detail["changed"] == ["score", "comment", "confirmation"]

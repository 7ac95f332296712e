"""What one case adds to the counters (Stats `cases`, the delay histograms, the irritants, the
assignee's `open_cases`), as a pure rule: the callback programme's dashboard and SLA share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules.case_counters import (
    BUSINESS_HOUR_EDGES,
    CASES_METRIC,
    HOUR_EDGES,
    STAFF,
    bucket,
    contribution,
    delta,
    observations,
    total,
)
from closeloop.rules.nps_counters import STATS, WAVE, Target

OPENED = {
    "case_id": "k3v7aaaaaaaaaaaaaaaaaaaaaa",
    "contact_id": "01JCONTACT",
    "wave_id": "01JWAVE",
    "segment": "pharmacy",
    "language": "fr",
    "month": "2027-03",
    "score": Decimal(3),
    "category": "detractor",
    "confirmed": True,
    "responded_at": "2027-03-01T10:00:00.000000+0000",
    "opened_at": "2027-03-01T10:00:02.000000+0000",
    "due_at": "2027-03-03T10:00:00.000000+0000",
    "script": "detractor.fr",
    "assignee_id": "01JSTAFFA",
    "assigned_at": "2027-03-01T10:00:02.000000+0000",
    "assignment": "owner",
    "queue_due_at": "2027-03-03T10:00:00.000000+0000",
    "status": "open",
    "has_phone": True,
    "attempt_count": Decimal(0),
    "failed_attempt_count": Decimal(0),
    "timer_shard": "4",
    "next_timer_at": "2027-03-02T16:45:00.000000+0000",
    "next_timer_step": "remind",
    "version": Decimal(1),
}
REACHED = {
    **OPENED,
    "first_exchange_at": "2027-03-02T09:30:00.000000+0000",
    "first_exchange_kind": "call",
    "first_delay_h": Decimal("23.50"),
    "first_delay_bh": Decimal("8.50"),
    "attempt_count": Decimal(1),
    "tags": {"delivery", "price"},
}
for _timer in ("timer_shard", "next_timer_at", "next_timer_step"):
    del REACHED[_timer]
NINE = {
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
ONE = Decimal(1)


def _cases(counts: Any, scope: str = "all") -> dict[str, Decimal]:
    return dict(counts.get(Target(STATS, scope, CASES_METRIC), {}))


def test_an_opened_case_counts_opened_and_open_in_the_nine_scopes_and_on_its_assignee() -> None:
    counts = contribution(OPENED)

    assert {target.key for target in counts if target.metric == CASES_METRIC} == NINE
    assert _cases(counts) == {"opened_det": ONE, "open_det": ONE}
    assert counts[Target(STAFF, "01JSTAFFA")] == {"open_cases": ONE}
    assert not any(target.table == WAVE for target in counts)  # the wave counts are the responses'
    assert len(counts) == 10  # no delay, no irritant yet


def test_an_unconfirmed_response_opens_a_case_counted_unconfirmed_until_the_caller_confirms_it() -> None:
    unconfirmed = {**OPENED, "confirmed": False}
    assert _cases(contribution(unconfirmed)) == {"opened_det": ONE, "open_det": ONE, "unconfirmed_det": ONE}
    assert _cases(delta(OPENED, unconfirmed)) == {"unconfirmed_det": -ONE}


def test_a_first_call_within_the_sla_counts_first_within_sla_its_delays_and_its_tags() -> None:
    moved = delta(REACHED, OPENED)

    assert _cases(moved, "wave#01JWAVE/language#fr") == {
        "first_det": ONE,
        "first_call_det": ONE,
        "within_sla_det": ONE,
    }
    # 23.5 h: bucket b04 (<24 h); 8.5 business hours: b03 (<9, within one business day)
    assert moved[Target(STATS, "month#2027-03", "delay#first#h")] == {
        "det_b04": ONE,
        "det_n": ONE,
        "det_sum": Decimal("23.50"),
    }
    assert moved[Target(STATS, "all", "delay#first#bh")] == {"det_b03": ONE, "det_n": ONE, "det_sum": Decimal("8.50")}
    irritants = {(target.key, target.metric) for target in moved if target.metric.startswith("irritant#")}
    assert irritants == {
        (scope, f"irritant#{tag}")
        for scope in ("all", "wave#01JWAVE", "segment#pharmacy", "language#fr", "month#2027-03")
        for tag in ("delivery", "price")
    }
    assert moved[Target(STATS, "segment#pharmacy", "irritant#price")] == {"n_det": ONE}
    assert Target(STAFF, "01JSTAFFA") not in moved  # still open: the caller's load does not change


def test_a_breach_counts_overdue_and_late_and_a_late_exchange_stays_late_but_no_longer_overdue() -> None:
    breached = {**OPENED, "breached_at": "2027-03-03T10:00:00.000000+0000", "last_timer": "escalate#1@..."}
    assert _cases(delta(breached, OPENED)) == {"overdue_det": ONE, "late_det": ONE}

    late = {**breached, "first_exchange_at": "2027-03-03T14:00:00.000000+0000", "first_exchange_kind": "reply"}
    assert _cases(delta(late, breached)) == {"overdue_det": -ONE, "first_det": ONE, "first_reply_det": ONE}
    assert _cases(contribution(late))["late_det"] == ONE
    assert "within_sla_det" not in _cases(contribution(late))


def test_a_first_exchange_after_the_due_time_is_late_even_before_the_sweeper_wrote_the_breach() -> None:
    late = {**REACHED, "first_exchange_at": "2027-03-03T10:00:01.000000+0000"}
    counts = _cases(contribution(late))
    assert counts["late_det"] == ONE
    assert "within_sla_det" not in counts
    on_time = {**REACHED, "first_exchange_at": "2027-03-03T10:00:00.000000+0000"}  # at the due time
    assert _cases(contribution(on_time))["within_sla_det"] == ONE


def test_closing_takes_the_case_off_its_assignee_and_counts_the_reason() -> None:
    closed = {
        **REACHED,
        "promise": "solution_now",
        "second_exchange_at": REACHED["first_exchange_at"],
        "second_delay_h": Decimal("23.50"),
        "second_delay_bh": Decimal("8.50"),
        "status": "closed",
        "close_reason": "loop_closed",
        "closed_at": "2027-03-02T09:35:00.000000+0000",
    }
    del closed["queue_due_at"]
    moved = delta(closed, REACHED)
    assert _cases(moved) == {"open_det": -ONE, "promised_solution_det": ONE, "second_det": ONE, "closed_det": ONE}
    assert moved[Target(STAFF, "01JSTAFFA")] == {"open_cases": -ONE}
    assert moved[Target(STATS, "all", "delay#second#bh")] == {"det_b03": ONE, "det_n": ONE, "det_sum": Decimal("8.50")}

    unreachable = {**OPENED, "status": "closed", "close_reason": "unreachable", "fallback_at": "2027-03-02T12:00Z"}
    assert _cases(contribution(unreachable)) == {"opened_det": ONE, "fallback_det": ONE, "closed_other_det": ONE}


def test_a_promise_of_the_improvement_loop_keeps_the_case_open_awaiting_the_second_exchange() -> None:
    waiting = {**REACHED, "promise": "improvement_loop", "status": "awaiting_second"}
    assert _cases(delta(waiting, REACHED)) == {"promised_loop_det": ONE}


def test_a_reassignment_moves_one_open_case_from_one_staff_member_to_the_other() -> None:
    moved = delta({**OPENED, "assignee_id": "01JSTAFFB", "assignment": "manual"}, OPENED)
    assert moved == {
        Target(STAFF, "01JSTAFFA"): {"open_cases": -ONE},
        Target(STAFF, "01JSTAFFB"): {"open_cases": ONE},
    }


def test_a_category_moved_before_the_first_exchange_moves_every_count_of_the_case() -> None:
    passive = {**OPENED, "score": Decimal(8), "category": "passive", "due_at": "2027-03-15T10:00:00.000000+0000"}
    moved = delta(passive, OPENED)
    assert _cases(moved, "wave#01JWAVE") == {
        "opened_det": -ONE,
        "open_det": -ONE,
        "opened_pas": ONE,
        "open_pas": ONE,
    }
    assert Target(STAFF, "01JSTAFFA") not in moved


def test_changes_the_counters_do_not_read_move_nothing() -> None:
    attempt = {**OPENED, "attempt_count": Decimal(1), "failed_attempt_count": Decimal(1), "version": Decimal(2)}
    attempt["last_attempt_at"] = "2027-03-01T11:00:00.000000+0000"
    assert delta(attempt, OPENED) == {}
    assert delta({**OPENED, "last_timer": "remind@2027-03-02T16:45:00.000000+0000"}, OPENED) == {}


def test_at_most_five_tags_count_and_a_case_without_category_or_id_counts_nothing() -> None:
    many = {**REACHED, "tags": {f"tag-{n}" for n in range(8)}}
    tags = {target.metric for target in contribution(many) if target.metric.startswith("irritant#")}
    assert tags == {f"irritant#tag-{n}" for n in range(5)}
    assert contribution({**OPENED, "category": "unknown", "score": "x"}) == {}
    assert contribution({key: value for key, value in OPENED.items() if key != "case_id"}) == {}
    assert contribution(None) == {}


def test_the_buckets_are_the_fixed_edges_of_the_data_model() -> None:
    assert [bucket(Decimal(h), HOUR_EDGES) for h in ("0", "0.99", "1", "23.99", "24", "719.99", "720", "9000")] == [
        "b00",
        "b00",
        "b01",
        "b04",
        "b05",
        "b11",
        "b12",
        "b12",
    ]
    assert [bucket(Decimal(h), BUSINESS_HOUR_EDGES) for h in ("8.99", "9", "17.99", "18", "179.99", "180")] == [
        "b03",
        "b04",
        "b04",
        "b05",
        "b09",
        "b10",
    ]


def test_observations_are_the_opening_and_the_first_exchange_delay_once() -> None:
    assert observations(OPENED, None) == [("cases_opened", "detractor", ONE)]
    assert observations(REACHED, OPENED) == [("first_exchange_delay_bh", "detractor", Decimal("8.50"))]
    assert observations({**REACHED, "tags": {"x"}}, REACHED) == []
    assert observations(None, REACHED) == []


histories = st.lists(
    st.fixed_dictionaries(
        {
            "category": st.sampled_from(["detractor", "passive", "promoter"]),
            "status": st.sampled_from(["open", "awaiting_second", "closed"]),
            "assignee_id": st.sampled_from(["01JSTAFFA", "01JSTAFFB", None]),
            "breached_at": st.sampled_from([None, "2027-03-03T10:00:00.000000+0000"]),
            "first_exchange_at": st.sampled_from(
                [None, "2027-03-02T09:00:00.000000+0000", "2027-03-04T09:00:00.000000+0000"]
            ),
            "tags": st.sets(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=6),
            "first_delay_bh": st.sampled_from([None, Decimal("3.25"), Decimal("200")]),
        }
    ),
    min_size=1,
    max_size=8,
)


@given(histories)
def test_the_deltas_of_a_history_sum_to_the_contribution_of_its_last_state(states: list[dict[str, Any]]) -> None:
    applied: dict[Target, dict[str, Decimal]] = {}
    previous: dict[str, Any] | None = None
    for changes in states:
        item = {**OPENED, **{key: value for key, value in changes.items() if value is not None}}
        if not item["tags"]:
            del item["tags"]
        for target, values in delta(item, previous).items():
            into = applied.setdefault(target, {})
            for name, value in values.items():
                into[name] = into.get(name, Decimal(0)) + value
        previous = item
    cleaned = {target: {k: v for k, v in values.items() if v} for target, values in applied.items()}
    assert {target: values for target, values in cleaned.items() if values} == total([previous])
    counts = _cases(total([previous]))
    assert not ({"within_sla_det", "within_sla_pas", "within_sla_pro"} & set(counts)) or not (
        {"late_det", "late_pas", "late_pro"} & set(counts)
    )

"""The counters of responses, from the Responses stream read out of moto: every scope, every
change moving them exactly, a record handed over again applied once, and transaction conflicts
retried or handed back to the stream. verify_nps() is the oracle: counters == a recount."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop.ids import new_id
from closeloop.models import Wave
from closeloop.services import counters
from closeloop.services.capture import record_response
from closeloop.services.stats import verify_nps
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import make_wave
from tests.integration.responses_support import (
    apply_counters,
    cancelled_transactions,
    nps_item,
    pynamodb_client,
    responses_stream,
    sent_invitation,
)


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)  # the jitter between tries
    exact_numbers()  # moto's ADD as DynamoDB's: exact, never "0E-8" (as the local runtime has it)
    return stack


def _wave() -> Wave:
    return make_wave(month="2027-03")


def test_a_response_counts_in_all_nine_scopes_and_on_its_wave(ready: Any) -> None:
    # Given a wave with one invitation sent to a French pharmacist of weight 1.5
    wave = _wave()
    invitation = sent_invitation(wave.wave_id, segment="pharmacy", language="fr", weight=1.5)
    stream = responses_stream()

    # When they answer 3 with a comment and the stream reaches the counters
    record_response(invitation.invitation_id, 3, "Les livraisons arrivent en retard.")
    assert apply_counters(stream.read()) == {"batchItemFailures": []}

    # Then every survey scope of that response shows one confirmed detractor, weighted
    w, m = wave.wave_id, "2027-03"
    for scope in ("all", f"wave#{w}", "segment#pharmacy", "language#fr", f"month#{m}", f"month#{m}/segment#pharmacy"):
        assert nps_item(scope)["n_det_c"] >= 1, scope
    assert nps_item(f"wave#{w}") == {"n_det_c": 1, "w_det_c": 1.5, "w2_c": 2.25, "comment_c": 1}
    assert nps_item(f"wave#{w}/language#fr") == nps_item(f"wave#{w}/segment#pharmacy") == nps_item(f"wave#{w}")
    wave.refresh()
    assert (wave.responded, wave.responded_confirmed) == (1, 1)
    assert verify_nps() == []


def test_a_changed_score_moves_the_response_between_categories_never_double_counting(ready: Any) -> None:
    wave = _wave()
    invitation = sent_invitation(wave.wave_id)
    stream = responses_stream()
    record_response(invitation.invitation_id, 3, None)
    apply_counters(stream.read())

    # When the customer comes back and changes 3 to 9, with a comment this time
    record_response(invitation.invitation_id, 9, "Finalement, très satisfait.")
    apply_counters(stream.read())

    assert nps_item(f"wave#{wave.wave_id}") == {
        "n_det_c": 0,
        "w_det_c": 0,
        "n_pro_c": 1,
        "w_pro_c": 1,
        "w2_c": 1,
        "comment_c": 1,
    }
    wave.refresh()
    assert (wave.responded, wave.responded_confirmed) == (1, 1)
    assert verify_nps() == []


def test_a_promoted_click_counts_unconfirmed_until_the_person_confirms_it(ready: Any) -> None:
    wave = _wave()
    invitation = sent_invitation(wave.wave_id)
    stream = responses_stream()
    record_response(invitation.invitation_id, 8, None, source="click", confirmed=False)
    apply_counters(stream.read())
    assert nps_item(f"wave#{wave.wave_id}") == {"n_pas_u": 1, "w_pas_u": 1, "w2_u": 1}
    wave.refresh()
    assert (wave.responded, wave.responded_confirmed) == (1, 0)

    record_response(invitation.invitation_id, 8, None)  # the person sends the form
    apply_counters(stream.read())

    confirmed = {"n_pas_u": 0, "w_pas_u": 0, "w2_u": 0, "n_pas_c": 1, "w_pas_c": 1, "w2_c": 1}
    assert nps_item(f"wave#{wave.wave_id}") == confirmed
    wave.refresh()
    assert (wave.responded, wave.responded_confirmed) == (1, 1)


def test_records_handed_over_again_are_applied_once(ready: Any) -> None:
    # Given three responses of one wave, read from the stream
    wave = _wave()
    stream = responses_stream()
    for score in (2, 7, 10):
        record_response(sent_invitation(wave.wave_id).invitation_id, score, None)
    records = stream.read()

    # When the stream hands the batch over three times (retries), and a bisected half once more
    for batch in (records, records, records[1:], records):
        assert apply_counters(batch) == {"batchItemFailures": []}

    item = nps_item(f"wave#{wave.wave_id}")
    assert (item["n_det_c"], item["n_pas_c"], item["n_pro_c"]) == (1, 1, 1)
    wave.refresh()
    assert wave.responded == 3
    assert verify_nps() == []


def test_a_transaction_conflict_is_retried_and_the_record_counts_once(ready: Any) -> None:
    wave = _wave()
    invitation = sent_invitation(wave.wave_id)
    stream = responses_stream()
    record_response(invitation.invitation_id, 6, None)

    with cancelled_transactions(pynamodb_client(), times=2) as cancelled:
        assert apply_counters(stream.read()) == {"batchItemFailures": []}

    assert len(cancelled) == 2
    assert nps_item(f"wave#{wave.wave_id}")["n_det_c"] == 1
    assert verify_nps() == []


def test_conflicts_that_never_end_hand_the_records_back_to_the_stream_which_then_applies_them_once(
    ready: Any,
) -> None:
    wave = _wave()
    stream = responses_stream()
    for score in (0, 9):
        record_response(sent_invitation(wave.wave_id).invitation_id, score, None)
    records = stream.read()

    with cancelled_transactions(pynamodb_client(), times=counters.ATTEMPTS):
        answer = apply_counters(records)

    # Then every record from the first one that counts is reported, nothing was counted, and the
    # retry applies each once (moto streams an item created by an update as a key-only INSERT first)
    counting = [n for n, record in enumerate(records) if "category" in record["dynamodb"].get("NewImage", {})]
    sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in records[counting[0] :]]
    assert [failure["itemIdentifier"] for failure in answer["batchItemFailures"]] == sequence_numbers
    assert nps_item(f"wave#{wave.wave_id}") == {}
    assert apply_counters(records) == {"batchItemFailures": []}
    assert apply_counters(records) == {"batchItemFailures": []}
    item = nps_item(f"wave#{wave.wave_id}")
    assert (item["n_det_c"], item["n_pro_c"]) == (1, 1)
    assert verify_nps() == []


def test_a_batch_larger_than_one_transaction_is_packed_in_groups_each_applied_once(ready: Any) -> None:
    # 20 responses in 20 segments and months touch more than 100 counter items together
    wave = _wave()
    stream = responses_stream()
    for n in range(20):
        invitation = sent_invitation(wave.wave_id, segment=f"segment-{n}", month=f"20{10 + n}-03")
        record_response(invitation.invitation_id, n % 11, None)
    records = stream.read()
    counted = [counters.CountedRecord(str(n), counters.record_counts(DynamoDBRecord(r))) for n, r in enumerate(records)]
    assert len(counters.groups_of(counted)) > 1

    assert apply_counters(records) == {"batchItemFailures": []}

    wave.refresh()
    assert wave.responded == 20
    assert verify_nps() == []


def test_a_response_of_a_wave_that_does_not_exist_still_counts_in_stats(ready: Any) -> None:
    wave_id = new_id()  # no wave item
    stream = responses_stream()
    record_response(sent_invitation(wave_id, segment="orphans").invitation_id, 10, None)

    assert apply_counters(stream.read()) == {"batchItemFailures": []}

    assert nps_item(f"wave#{wave_id}") == {"n_pro_c": 1, "w_pro_c": 1, "w2_c": 1}
    assert Wave.count(wave_id) == 0  # no half-made wave item
    assert verify_nps() == []  # a wave that does not exist has no counts to compare

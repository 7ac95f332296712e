"""response_flow: the Responses stream read out of moto becomes ResponseCaptured and
ResponseChanged events on the bus, as a subscriber of the bus receives them (an SQS queue
behind a rule), with ids and categories only; entries EventBridge refuses are sent again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from closeloop import aws
from closeloop.services import domain_events, response_flow
from closeloop.services.capture import record_response
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import make_wave
from tests.integration.responses_support import REGION, apply_flow, bus_subscriber, responses_stream, sent_invitation

Received = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    monkeypatch.setattr(domain_events.time, "sleep", lambda _seconds: None)
    return stack


def test_a_new_response_is_published_as_response_captured_with_ids_and_categories_only(ready: Any) -> None:
    wave = make_wave(month="2027-03")
    invitation = sent_invitation(wave.wave_id, segment="hospital", language="en")
    stream = responses_stream()
    record_response(invitation.invitation_id, 4, "My order came late, twice.")

    with bus_subscriber() as received:
        assert apply_flow(stream.read()) == {"batchItemFailures": []}
        [event] = received()

    assert (event["source"], event["detail-type"]) == ("closeloop", "ResponseCaptured")
    detail = event["detail"]
    assert detail["event_id"].endswith(":ResponseCaptured")
    assert (detail["schema"], detail["response_id"], detail["wave_id"]) == (1, invitation.invitation_id, wave.wave_id)
    assert (detail["contact_id"], detail["category"], detail["confirmed"]) == (invitation.contact_id, "detractor", True)
    assert (detail["has_comment"], detail["segment"], detail["language"]) == (True, "hospital", "en")
    text = json.dumps(event)
    assert "late" not in text  # no comment
    assert '"score"' not in text  # no score
    assert "Anne" not in text


def test_a_changed_score_and_a_confirmation_are_published_as_response_changed(ready: Any) -> None:
    wave = make_wave()
    invitation = sent_invitation(wave.wave_id)
    stream = responses_stream()
    record_response(invitation.invitation_id, 7, None, source="click", confirmed=False)
    apply_flow(stream.read())

    # When the person confirms with another score and a comment
    record_response(invitation.invitation_id, 10, "Parfait.")
    with bus_subscriber() as received:
        apply_flow(stream.read())
        [event] = received()

    assert event["detail-type"] == "ResponseChanged"
    detail = event["detail"]
    assert (detail["category"], detail["previous_category"], detail["confirmed"]) == ("promoter", "passive", True)
    assert detail["changed"] == ["score", "comment", "confirmation"]


def test_the_same_answer_sent_again_publishes_nothing_more(ready: Any) -> None:
    wave = make_wave()
    invitation = sent_invitation(wave.wave_id)
    stream = responses_stream()
    record_response(invitation.invitation_id, 9, None)
    with bus_subscriber() as received:
        apply_flow(stream.read())
        record_response(invitation.invitation_id, 9, None)
        apply_flow(stream.read())
        assert [event["detail-type"] for event in received()] == ["ResponseCaptured"]


class RefusingEvents:
    """The EventBridge client, refusing the first entry of the first `times` calls (as a throttled
    or failing entry comes back: FailedEntryCount and an ErrorCode)."""

    def __init__(self, times: int) -> None:
        self.real = boto3.client("events", region_name=REGION)
        self.times = times
        self.calls: list[int] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(len(Entries))
        if len(self.calls) > self.times:
            answer: dict[str, Any] = self.real.put_events(Entries=Entries)
            return answer
        kept = self.real.put_events(Entries=Entries[1:]) if len(Entries) > 1 else {"Entries": []}
        refused = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
        return {"FailedEntryCount": 1, "Entries": [refused, *kept["Entries"]]}


def test_an_entry_eventbridge_refuses_is_sent_again_and_published_once(ready: Any) -> None:
    wave = make_wave()
    stream = responses_stream()
    for score in (1, 8):
        record_response(sent_invitation(wave.wave_id).invitation_id, score, None)
    refusing = RefusingEvents(times=1)
    aws.use_client("events", refusing)

    with bus_subscriber() as received:
        assert apply_flow(stream.read()) == {"batchItemFailures": []}
        events = received()

    assert refusing.calls == [2, 1]  # both, then the refused one again
    assert sorted(event["detail"]["category"] for event in events) == ["detractor", "passive"]


def test_an_event_that_cannot_be_published_hands_its_record_back_to_the_stream(ready: Any) -> None:
    wave = make_wave()
    stream = responses_stream()
    record_response(sent_invitation(wave.wave_id).invitation_id, 5, None)
    records = stream.read()
    aws.use_client("events", RefusingEvents(times=response_flow.ATTEMPTS))

    answer = apply_flow(records)

    assert answer == {"batchItemFailures": [{"itemIdentifier": records[-1]["dynamodb"]["SequenceNumber"]}]}

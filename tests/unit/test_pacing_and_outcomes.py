"""Pure parts of sending: the pace of an instance, what SES errors mean, what a ledger change counts."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given
from hypothesis import strategies as st

from closeloop.errors import InvalidInput
from closeloop.mail import pacing
from closeloop.mail.outbound import SendOutcomeUnknown, SendRefused, classify
from closeloop.rules.send_outcomes import expected_step_states, outcome_changes, wave_deltas
from closeloop.services.sending import SendRequest, retry_delay_seconds


def throttled() -> ClientError:
    return ClientError(
        {"Error": {"Code": "TooManyRequestsException"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "SendEmail"
    )


def rejected() -> ClientError:
    return ClientError({"Error": {"Code": "MessageRejected"}, "ResponseMetadata": {}}, "SendEmail")


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sends: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@given(st.floats(min_value=0.5, max_value=200), st.integers(min_value=1, max_value=300))
def test_a_pacer_never_lets_more_sends_through_than_its_rate_allows(rate: float, sends: int) -> None:
    time = FakeTime()
    pacer = pacing.Pacer(rate, monotonic=time.monotonic, sleep=time.sleep)

    for _ in range(sends):
        pacer.wait()
        time.sends.append(time.now)

    elapsed = time.sends[-1] - time.sends[0]
    assert elapsed == pytest.approx((sends - 1) / rate)
    for first, second in zip(time.sends, time.sends[1:], strict=False):
        assert second - first == pytest.approx(1 / rate)


def test_a_pacer_does_not_save_up_idle_time_beyond_its_burst() -> None:
    time = FakeTime()
    pacer = pacing.Pacer(10, monotonic=time.monotonic, sleep=time.sleep)
    pacer.wait()

    time.now += 60  # a minute with nothing to send
    slept = [pacer.wait() for _ in range(3)]

    assert slept == [0.0, pytest.approx(0.1), pytest.approx(0.1)]


def test_each_instance_paces_at_its_share_of_the_account_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_SEND_RATE", "100")
    monkeypatch.setenv("SENDER_CONCURRENCY", "5")

    assert pacing.instance_rate() == 20
    assert pacing.instance_pacer().rate == 20


@pytest.mark.parametrize(
    ("error", "meaning", "throttled_"),
    [
        (throttled(), SendRefused, True),
        (rejected(), SendRefused, False),
        (EndpointConnectionError(endpoint_url="https://email"), SendRefused, False),
        (ConnectTimeoutError(endpoint_url="https://email"), SendRefused, False),
        (ReadTimeoutError(endpoint_url="https://email"), SendOutcomeUnknown, None),
    ],
    ids=["throttled", "rejected", "no-connection", "connect-timeout", "read-timeout"],
)
def test_a_refusal_is_told_apart_from_an_unknown_outcome(error: Exception, meaning: type, throttled_: bool) -> None:
    result = classify(error)

    assert isinstance(result, meaning)
    if isinstance(result, SendRefused):
        assert result.throttled is throttled_


def test_an_internal_error_of_ses_is_an_unknown_outcome() -> None:
    error = ClientError({"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "x")

    assert isinstance(classify(error), SendOutcomeUnknown)


def test_a_first_outcome_counts_once_on_the_wave_and_finishes_the_invitation() -> None:
    assert wave_deltas("first", None, "sent") == {"sent": 1, "finished": 1}
    assert wave_deltas("first", "deferred", "failed") == {"failed": 1, "finished": 1}
    assert wave_deltas("first", None, "skipped") == {"send_skipped": 1, "finished": 1}
    assert wave_deltas("first", None, "deferred") == {}


def test_the_truth_replacing_an_uncertain_mark_moves_the_count_without_finishing_twice() -> None:
    assert wave_deltas("first", "uncertain", "sent") == {"uncertain": -1, "sent": 1}
    assert wave_deltas("first", "uncertain", "deferred") == {"uncertain": -1, "finished": -1}


def test_reminders_change_no_wave_count() -> None:
    assert wave_deltas("reminder", None, "sent") == {}


def test_a_change_applies_only_where_the_invitation_still_is_where_the_ledger_left_it() -> None:
    assert expected_step_states(None) == {"reserved", "sending", "deferred"}
    assert expected_step_states("deferred") == {"reserved", "sending", "deferred"}
    assert expected_step_states("uncertain") == {"uncertain"}
    assert not ({"sent", "failed", "skipped", "uncertain"} & expected_step_states(None))


def test_only_the_outcomes_that_changed_between_two_images_are_changes() -> None:
    old = {"a": {"state": "deferred", "attempt": 1}, "b": {"state": "sent", "attempt": 1}}
    new = {"a": {"state": "sent", "attempt": 2}, "b": {"state": "sent", "attempt": 1}, "c": {"state": "failed"}}

    changes = outcome_changes(old, new)

    assert [(c.invitation_id, c.before, c.after) for c in changes] == [("a", "deferred", "sent"), ("c", None, "failed")]


IDS = ["k3v7q2m5x8c4n6b1z9r0t2y4u6", "m2n4p6q8r2s4t6v2w4x6y2z4a6"]


def test_a_send_request_is_read_from_the_planners_message() -> None:
    text = (
        '{"batch_id": "B1", "wave_id": "W1", "step": "first", "invitation_ids": ' + json.dumps(IDS) + ', "attempt": 2}'
    )
    request = SendRequest.from_body(text)

    assert (request.batch_id, request.wave_id, request.step, request.attempt) == ("B1", "W1", "first", 2)
    assert request.invitation_ids == IDS


_ELEVEN = json.dumps(["a" * 26] * 11)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"batch_id": "B1", "wave_id": "W1", "step": "third", "invitation_ids": ["k3v7q2m5x8c4n6b1z9r0t2y4u6"]}',
        '{"batch_id": "B1", "wave_id": "W1", "step": "first", "invitation_ids": []}',
        '{"batch_id": "B1", "wave_id": "W1", "step": "first", "invitation_ids": ["UPPER-CASE-NOT-AN-ID-0000"]}',
        '{"batch_id": "B1", "wave_id": "W1", "step": "first", "invitation_ids": ' + _ELEVEN + "}",
    ],
    ids=["not-json", "empty", "unknown-step", "no-ids", "bad-id", "eleven-ids"],
)
def test_anything_else_on_the_send_queue_is_refused_with_a_reason(body: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        SendRequest.from_body(body)

    assert refused.value.reason.startswith("not a send request")


def test_deferred_invitations_wait_longer_after_each_attempt_up_to_fifteen_minutes() -> None:
    delays = [retry_delay_seconds(attempt) for attempt in range(1, 15)]

    assert 2 <= delays[0] <= 3
    assert all(delay <= 900 for delay in delays)
    assert delays[-1] == 900

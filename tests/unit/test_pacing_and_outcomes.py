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


def _most_in_any_second(sends: list[float]) -> int:
    """The most sends any window of one second (t - 1, t] holds."""
    return max(sum(1 for other in sends if end - 1 + 1e-9 < other <= end + 1e-9) for end in sends)


@given(
    rate=st.floats(min_value=1, max_value=200),
    pauses=st.lists(st.floats(min_value=0, max_value=2.5), min_size=1, max_size=300),
)
def test_a_pacer_never_lets_more_sends_into_any_second_than_its_rate(rate: float, pauses: list[float]) -> None:
    time = FakeTime()
    pacer = pacing.Pacer(rate, monotonic=time.monotonic, sleep=time.sleep)

    for pause in pauses:  # the caller's own work between sends: rendering, reading, recording
        time.now += pause
        pacer.wait()
        time.sends.append(time.now)

    assert _most_in_any_second(time.sends) <= int(rate)


@given(rate=st.integers(min_value=1, max_value=100), sends=st.integers(min_value=1, max_value=400))
def test_a_pacer_with_work_to_do_sends_at_its_full_rate(rate: int, sends: int) -> None:
    time = FakeTime()
    pacer = pacing.Pacer(rate, monotonic=time.monotonic, sleep=time.sleep)

    for _ in range(sends):
        pacer.wait()
        time.sends.append(time.now)

    # whole windows (a second and the margin) of `rate` sends each, the first at once
    assert time.sends[-1] - time.sends[0] == pytest.approx((sends - 1) // rate * (1 + pacing.MARGIN))


def test_a_pacer_catches_up_on_a_pause_within_the_second_and_saves_up_nothing_more() -> None:
    time = FakeTime()
    pacer = pacing.Pacer(10, monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(10):
        pacer.wait()
        time.now += 0.01  # ten sends in the first 0.1 s
    time.now += 0.4  # the caller reads and renders its next batch

    slept = [pacer.wait() for _ in range(12)]

    # the second after the first send is full: the next sends wait for it, ten a second again
    assert slept[0] == pytest.approx(0.5 + pacing.MARGIN)
    assert slept[1:10] == [pytest.approx(0.01)] * 9

    time.now += 60  # a minute with nothing to send
    after_the_pause = [pacer.wait() for _ in range(11)]
    assert after_the_pause == [*[0.0] * 10, pytest.approx(1.0 + pacing.MARGIN)]  # one second's worth at once, no more


def test_a_share_below_one_send_a_second_spaces_the_sends() -> None:
    time = FakeTime()
    pacer = pacing.Pacer(0.5, monotonic=time.monotonic, sleep=time.sleep)

    slept = [pacer.wait() for _ in range(3)]

    assert slept == [0.0, pytest.approx(2.0 + pacing.MARGIN), pytest.approx(2.0 + pacing.MARGIN)]


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

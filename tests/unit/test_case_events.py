"""What a change of a case sets off: the emails to send and the domain events (closeloop.rules.case_events)."""

from __future__ import annotations

from typing import Any

import pytest

from closeloop.rules.case_events import MailJob, case_changes, parse_last_timer, stored_time

CASE_ID = "a" * 26
OCCURRED = "2026-03-02T10:00:00+00:00"


def _case(**changes: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "case_id": CASE_ID,
        "contact_id": "01CONTACT",
        "wave_id": "01WAVE",
        "category": "detractor",
        "score": 3,
        "confirmed": True,
        "status": "open",
        "responded_at": "2026-03-02T08:00:00.000000+0000",
        "opened_at": "2026-03-02T08:00:05.000000+0000",
        "due_at": "2026-03-04T08:00:00.000000+0000",
        "assignee_id": "01ANNE",
        "assigned_at": "2026-03-02T08:00:05.000000+0000",
        "assignment": "owner",
        "has_phone": True,
        "attempt_count": 0,
        "failed_attempt_count": 0,
        "version": 1,
    }
    case.update(changes)
    return {key: value for key, value in case.items() if value is not None}


def _changes(name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None, threshold: int = 2) -> Any:
    return case_changes("evt-1", name, new, old, OCCURRED, fallback_after=threshold)


def _names(events: list[Any]) -> list[str]:
    return [event.name for event in events]


def test_an_opened_case_notifies_its_assignee_and_publishes_case_opened_with_ids_only() -> None:
    jobs, events = _changes("INSERT", _case())
    assert jobs == [MailJob("notify_assigned", CASE_ID, "2026-03-02T08:00:05.000000+0000", "01ANNE")]
    assert _names(events) == ["CaseOpened"]
    detail = events[0].detail
    assert detail["event_id"] == "evt-1:CaseOpened"
    assert (detail["case_id"], detail["category"], detail["assignee_id"]) == (CASE_ID, "detractor", "01ANNE")
    assert "score" not in detail


def test_a_case_opened_without_a_phone_gets_the_fallback_at_once() -> None:
    jobs, _ = _changes("INSERT", _case(has_phone=False))
    assert [job.kind for job in jobs] == ["notify_assigned", "fallback"]
    assert jobs[1] == MailJob("fallback", CASE_ID, "2026-03-02T08:00:05.000000+0000", "customer")


def test_a_key_only_image_before_the_item_counts_as_nothing_and_the_next_one_as_the_opening() -> None:
    assert _changes("INSERT", {"case_id": CASE_ID}) == ([], [])
    jobs, events = _changes("MODIFY", _case(), {"case_id": CASE_ID})
    assert _names(events) == ["CaseOpened"]
    assert [job.kind for job in jobs] == ["notify_assigned"]


def test_a_reassignment_notifies_the_new_assignee_once() -> None:
    old = _case()
    new = _case(assignee_id="01PAUL", assigned_at="2026-03-02T09:00:00.000000+0000", assignment="manual", version=2)
    jobs, events = _changes("MODIFY", new, old)
    assert jobs == [MailJob("notify_assigned", CASE_ID, "2026-03-02T09:00:00.000000+0000", "01PAUL")]
    assert _names(events) == ["CaseAssigned"]
    assert events[0].detail["previous_assignee_id"] == "01ANNE"
    # a later change that keeps the assignee notifies nobody
    assert _changes("MODIFY", _case(assignee_id="01PAUL", attempt_count=1), new) == ([], [])


@pytest.mark.parametrize(("before", "after", "expected"), [(0, 1, False), (1, 2, True), (2, 3, False), (0, 2, True)])
def test_the_fallback_goes_when_failed_attempts_cross_the_threshold(before: int, after: int, expected: bool) -> None:
    old = _case(failed_attempt_count=before, attempt_count=before)
    new = _case(failed_attempt_count=after, attempt_count=after, last_attempt_at="2026-03-02T11:00:00.000000+0000")
    jobs, _ = _changes("MODIFY", new, old)
    fallback = [job for job in jobs if job.kind == "fallback"]
    assert bool(fallback) is expected
    if expected:
        assert fallback[0].trigger_at == "2026-03-02T11:00:00.000000+0000"
        assert fallback[0].message_key() == "2026-03-02T11:00:00.000000+0000#fallback"


def test_no_fallback_once_the_first_exchange_happened_or_the_fallback_was_claimed() -> None:
    old = _case(failed_attempt_count=1)
    exchanged = _case(failed_attempt_count=2, first_exchange_at="2026-03-02T10:30:00.000000+0000")
    claimed = _case(failed_attempt_count=2, fallback_at="2026-03-02T10:30:00.000000+0000")
    assert not [job for job in _changes("MODIFY", exchanged, old)[0] if job.kind == "fallback"]
    assert not [job for job in _changes("MODIFY", claimed, old)[0] if job.kind == "fallback"]


def test_a_fired_reminder_goes_to_the_assignee() -> None:
    old = _case(next_timer_step="remind")
    new = _case(last_timer="remind@2026-03-03T15:45:00.000000+0000", next_timer_step="escalate#1")
    jobs, events = _changes("MODIFY", new, old)
    assert jobs == [MailJob("remind", CASE_ID, "2026-03-03T15:45:00.000000+0000", "01ANNE", "remind")]
    assert events == []


def test_each_escalation_goes_to_the_managers_under_its_own_key_with_case_overdue() -> None:
    old = _case(last_timer="escalate#1@2026-03-04T08:00:00.000000+0000")
    new = _case(last_timer="escalate#2@2026-03-05T08:00:00.000000+0000", breached_at="2026-03-04T08:00:00.000000+0000")
    jobs, events = _changes("MODIFY", new, old)
    assert jobs == [MailJob("escalate", CASE_ID, "2026-03-05T08:00:00.000000+0000", "managers", "escalate#2")]
    assert jobs[0].message_key("01MANAGER") == "2026-03-05T08:00:00.000000+0000#escalate-2-01MANAGER"
    assert _names(events) == ["CaseOverdue"]
    assert events[0].detail["days_overdue"] == 1
    # the same image again (a retried record compares the same images): the same job, the same key
    assert _changes("MODIFY", new, old)[0] == jobs


def test_first_exchange_within_or_after_the_due_time() -> None:
    old = _case()
    within = _case(first_exchange_at="2026-03-03T10:00:00.000000+0000", first_exchange_kind="call")
    late = _case(first_exchange_at="2026-03-05T10:00:00.000000+0000", first_exchange_kind="reply")
    _, events = _changes("MODIFY", within, old)
    assert _names(events) == ["CaseFirstExchange"]
    assert (events[0].detail["kind"], events[0].detail["within_sla"]) == ("call", True)
    _, events = _changes("MODIFY", late, old)
    assert (events[0].detail["kind"], events[0].detail["within_sla"]) == ("reply", False)


def test_closing_publishes_case_closed_and_second_exchange_once() -> None:
    old = _case(status="awaiting_second", first_exchange_at="2026-03-03T10:00:00.000000+0000")
    new = _case(
        status="closed",
        close_reason="loop_closed",
        promise="improvement_loop",
        first_exchange_at="2026-03-03T10:00:00.000000+0000",
        second_exchange_at="2026-03-20T10:00:00.000000+0000",
        second_exchange_kind="call",
    )
    jobs, events = _changes("MODIFY", new, old)
    assert jobs == []
    assert _names(events) == ["CaseSecondExchange", "CaseClosed"]
    assert events[1].detail["close_reason"] == "loop_closed"


def test_times_and_timer_values() -> None:
    assert stored_time("2026-03-02T09:00:00+01:00") == "2026-03-02T08:00:00.000000+0000"
    assert parse_last_timer("escalate#3@2026-03-02T08:00:00.000000+0000") == (
        "escalate#3",
        "2026-03-02T08:00:00.000000+0000",
    )
    assert parse_last_timer("later@2026-03-02") is None
    assert parse_last_timer(None) is None

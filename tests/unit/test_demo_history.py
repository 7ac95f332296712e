"""The demo's last days, as planned from the moment the demo starts: whatever the day and hour
(weekends, French holidays, late evenings), every answer and call lies in the past in order, and
each demo case is in the state it is meant to show, so the queue is alive."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.rules.business_time import BusinessCalendar, business_hours_between
from closeloop.rules.nps import category_of
from closeloop.rules.sla import sla_for
from closeloop.settings import Settings
from closeloop_local.demo import (
    ANSWERS,
    CHANGE_OF_MIND_AFTER,
    CONTACTS,
    OPENING_DELAY,
    TAXONOMY,
    answered_at,
    business_day_at,
    called_at,
)

CALENDAR = BusinessCalendar()
SETTINGS = Settings()
PARIS = ZoneInfo("Europe/Paris")
STATES = {"overdue", "due_soon", "open", "awaiting_second", "closed"}


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


def _state(answer_index: int, now: datetime) -> str:
    """The state the planned history leaves the case in at `now`, by the rules of the SLA and of
    attempts (docs/data-model.md 4.15)."""
    answer = ANSWERS[answer_index]
    score = answer.then[0] if answer.then else answer.score
    reached = [call for call in answer.calls if call.outcome in ("reached", "declined")]
    if reached:
        return "closed" if reached[0].promise in ("none", "solution_now", None) else "awaiting_second"
    due = sla_for(category_of(score), answered_at(CALENDAR, now, answer), CALENDAR, SETTINGS).due_at
    if due < now:
        return "overdue"
    if business_hours_between(CALENDAR, now, due) <= 2 * CALENDAR.day_hours:
        return "due_soon"
    return "open"


@pytest.mark.parametrize(
    ("now", "days_ago", "expected"),
    [
        (paris(2026, 3, 4, 15, 0), 1, paris(2026, 3, 3, 10, 0)),  # a Wednesday: Tuesday
        (paris(2026, 3, 9, 8, 0), 1, paris(2026, 3, 6, 10, 0)),  # a Monday morning: the Friday before
        (paris(2026, 3, 8, 12, 0), 2, paris(2026, 3, 5, 10, 0)),  # a Sunday: Friday is 1, Thursday 2
        (paris(2026, 4, 7, 9, 0), 1, paris(2026, 4, 3, 10, 0)),  # after Easter Monday: the Friday before
        (paris(2026, 12, 28, 9, 0), 3, paris(2026, 12, 22, 10, 0)),  # Christmas is not a business day
    ],
)
def test_a_demo_moment_is_a_number_of_business_days_back(now: datetime, days_ago: int, expected: datetime) -> None:
    at = business_day_at(CALENDAR, now, days_ago, time(10, 0))

    assert at == expected
    assert at.tzinfo == UTC


def test_the_demo_history_never_starts_today() -> None:
    with pytest.raises(ValueError, match="at least one business day"):
        business_day_at(CALENDAR, paris(2026, 3, 4, 15, 0), 0, time(10, 0))


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)))
def test_whenever_the_demo_starts_its_history_is_in_the_past_and_in_order(now: datetime) -> None:
    for answer in ANSWERS:
        answered = answered_at(CALENDAR, now, answer)
        assert answered < now
        if answer.then:
            assert answered + CHANGE_OF_MIND_AFTER < now
        moments = [called_at(CALENDAR, now, call) for call in answer.calls]
        assert moments == sorted(moments)
        for moment in moments:
            assert answered + OPENING_DELAY < moment < now


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)))
def test_whenever_the_demo_starts_each_case_shows_its_state(now: datetime) -> None:
    for index, answer in enumerate(ANSWERS):
        assert _state(index, now) == answer.shows, (answer.email, now)


def test_the_queue_has_cases_in_every_state_and_overdue_detractors() -> None:
    assert {answer.shows for answer in ANSWERS} == STATES
    overdue = [answer for answer in ANSWERS if answer.shows == "overdue"]
    assert len(overdue) >= 2
    assert all(category_of(answer.score) == "detractor" for answer in overdue)
    # one after two failed calls (the fallback email), one without a phone (the fallback at once)
    failed = [answer for answer in overdue if [call.outcome for call in answer.calls] == ["no_answer", "voicemail"]]
    assert len(failed) == 1
    phones = {contact.email: contact.phone for contact in CONTACTS}
    assert any(phones[answer.email] is None for answer in overdue)


def test_the_demo_calls_use_the_demo_taxonomy_and_the_attempt_vocabulary() -> None:
    tags = {tag["tag"] for tag in TAXONOMY}
    for answer in ANSWERS:
        for call in answer.calls:
            assert set(call.tags) <= tags
            assert call.outcome in ("reached", "no_answer", "voicemail", "wrong_number", "declined")
            assert call.promise in (None, "none", "solution_now", "improvement_loop")
    assert all(tag["label_fr"] and tag["label_en"] and tag["department"] for tag in TAXONOMY)


def test_a_wednesday_afternoon_demo_in_detail() -> None:
    now = paris(2026, 3, 11, 15, 0)
    louise = next(answer for answer in ANSWERS if answer.email.startswith("l.mercier"))

    answered = answered_at(CALENDAR, now, louise)

    assert answered == paris(2026, 3, 5, 9, 20)  # four business days back: Thursday of the week before
    due = sla_for("detractor", answered, CALENDAR, SETTINGS).due_at
    assert due == paris(2026, 3, 9, 9, 20)  # two business days later: Monday
    assert now - due > timedelta(days=2)  # overdue by two days: two daily escalations

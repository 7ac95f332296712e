"""Business time: Monday to Friday, 9:00-18:00 Europe/Paris, French public holidays excluded."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.rules.business_time import (
    BusinessCalendar,
    add_business_hours,
    business_hours_between,
    due_at,
)

PARIS = ZoneInfo("Europe/Paris")
CALENDAR = BusinessCalendar()


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("responded", "due"),
    [
        # a Tuesday morning answer: 2 business days later, same time on Thursday
        (paris(2026, 3, 3, 10, 30), paris(2026, 3, 5, 10, 30)),
        # a Friday afternoon answer: the weekend does not count
        (paris(2026, 3, 6, 16, 0), paris(2026, 3, 10, 16, 0)),
        # a Saturday answer counts from Monday 9:00, due Tuesday 18:00
        (paris(2026, 3, 7, 11, 0), paris(2026, 3, 10, 18, 0)),
        # an answer at 20:00 counts from the next morning
        (paris(2026, 3, 3, 20, 0), paris(2026, 3, 5, 18, 0)),
        # Easter Monday 2026 (6 April) is a holiday: Friday 3 April 12:00 -> Wednesday 8 April 12:00
        (paris(2026, 4, 3, 12, 0), paris(2026, 4, 8, 12, 0)),
        # Ascension Thursday 14 May 2026, then the weekend
        (paris(2026, 5, 13, 15, 0), paris(2026, 5, 18, 15, 0)),
        # Christmas and the weekend after it (25 December 2026 is a Friday)
        (paris(2026, 12, 24, 9, 0), paris(2026, 12, 28, 18, 0)),
    ],
)
def test_a_detractors_due_date_is_two_business_days_later(responded: datetime, due: datetime) -> None:
    assert due_at(CALENDAR, responded, 2) == due.astimezone(UTC)


def test_passives_and_promoters_get_ten_business_days_across_holidays() -> None:
    # Monday 27 April 2026: 1 May (Friday) and 8 May (Friday) are holidays
    assert due_at(CALENDAR, paris(2026, 4, 27, 9, 0), 10) == paris(2026, 5, 12, 18, 0).astimezone(UTC)


def test_across_the_change_to_summer_time_business_hours_are_wall_clock_hours() -> None:
    # 29 March 2026: clocks go forward in Paris overnight; Friday 16:00 + 4 business hours
    assert add_business_hours(CALENDAR, paris(2026, 3, 27, 16, 0), 4) == paris(2026, 3, 30, 11, 0).astimezone(UTC)
    assert business_hours_between(CALENDAR, paris(2026, 3, 27, 16, 0), paris(2026, 3, 30, 11, 0)) == 4


def test_hours_between_count_only_working_time() -> None:
    assert business_hours_between(CALENDAR, paris(2026, 3, 6, 17, 0), paris(2026, 3, 9, 10, 0)) == 2
    assert business_hours_between(CALENDAR, paris(2026, 3, 7, 8, 0), paris(2026, 3, 8, 20, 0)) == 0
    assert business_hours_between(CALENDAR, paris(2026, 3, 9, 10, 0), paris(2026, 3, 6, 17, 0)) == 0
    assert business_hours_between(CALENDAR, paris(2026, 3, 2, 0, 0), paris(2026, 3, 7, 0, 0)) == 45


def test_the_companys_own_calendar_changes_the_holidays() -> None:
    # Whit Monday (25 May 2026) worked, the Friday after Ascension (15 May) closed
    calendar = BusinessCalendar(
        worked_holidays=frozenset({date(2026, 5, 25)}), extra_closed=frozenset({date(2026, 5, 15)})
    )
    assert calendar.is_business_day(date(2026, 5, 25))
    assert not calendar.is_business_day(date(2026, 5, 15))
    assert not CALENDAR.is_business_day(date(2026, 5, 25))
    assert due_at(calendar, paris(2026, 5, 13, 10, 0), 2) == paris(2026, 5, 19, 10, 0).astimezone(UTC)


def test_naive_times_and_negative_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_hours(CALENDAR, datetime(2026, 3, 3, 10, 0), 1)
    with pytest.raises(ValueError, match="negative"):
        add_business_hours(CALENDAR, paris(2026, 3, 3, 10, 0), -1)


# ------------------------------------------------------------------ properties

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
hours = st.integers(min_value=0, max_value=9 * 30 * 60).map(lambda minutes: minutes / 60)


@settings(max_examples=300, deadline=None)
@given(start=moments, amount=hours)
def test_adding_business_hours_then_measuring_them_gives_them_back(start: datetime, amount: float) -> None:
    end = add_business_hours(CALENDAR, start, amount)
    assert end >= start
    assert business_hours_between(CALENDAR, start, end) == pytest.approx(amount, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(start=moments, amount=st.integers(min_value=1, max_value=9 * 30 * 60).map(lambda minutes: minutes / 60))
def test_a_due_time_is_always_inside_working_hours_of_a_working_day(start: datetime, amount: float) -> None:
    end = add_business_hours(CALENDAR, start, amount).astimezone(PARIS)
    assert CALENDAR.is_business_day(end.date())
    assert time(9) < end.time() <= time(18)  # after the opening (at least a minute of work), by the closing


@settings(max_examples=200, deadline=None)
@given(start=moments, first=hours, second=hours)
def test_business_hours_add_up(start: datetime, first: float, second: float) -> None:
    once = add_business_hours(CALENDAR, start, first + second)
    twice = add_business_hours(CALENDAR, add_business_hours(CALENDAR, start, first), second)
    assert abs((once - twice).total_seconds()) < 1e-3


@settings(max_examples=200, deadline=None)
@given(start=moments, days=st.integers(min_value=1, max_value=20))
def test_a_due_date_never_lands_on_a_weekend_or_a_french_holiday(start: datetime, days: int) -> None:
    due = due_at(CALENDAR, start, days).astimezone(PARIS)
    assert due.weekday() < 5
    assert CALENDAR.is_business_day(due.date())
    assert business_hours_between(CALENDAR, start, due) == pytest.approx(9 * days, abs=1e-6)

"""SLA dates across weekends and French holidays, property-based (issue #6, "Done when"): whatever
the moment a customer answers, the due time and the reminder are in business time, at exactly the
SLA's business hours, the reminder first; named cases for the holidays a caller would think of."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.rules.business_time import business_hours_between, public_holidays
from closeloop.rules.sla import business_calendar, sla_business_days, sla_for
from closeloop.settings import Settings

PARIS = ZoneInfo("Europe/Paris")
SETTINGS = Settings()
CALENDAR = business_calendar(SETTINGS)
CATEGORIES = ("detractor", "passive", "promoter")

moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC))
categories = st.sampled_from(CATEGORIES)


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


def in_business_time(moment: datetime) -> bool:
    """Inside a working day's hours; exactly 18:00 counts (a due time may fall on the closing)."""
    local = moment.astimezone(PARIS)
    return CALENDAR.is_business_day(local.date()) and time(9) < local.time().replace(tzinfo=None) <= time(18)


@settings(max_examples=300, deadline=None)
@given(moments, categories)
def test_a_due_time_is_never_on_a_weekend_a_holiday_or_outside_nine_to_six_in_paris(
    responded: datetime, category: str
) -> None:
    sla = sla_for(category, responded, CALENDAR, SETTINGS)
    local = sla.due_at.astimezone(PARIS)
    assert local.weekday() < 5
    assert local.date() not in public_holidays("FR", local.year)
    assert in_business_time(sla.due_at), local
    assert in_business_time(sla.remind_at)


@settings(max_examples=300, deadline=None)
@given(moments, categories)
def test_the_due_time_is_exactly_the_slas_business_days_of_nine_hours_after_the_answer(
    responded: datetime, category: str
) -> None:
    sla = sla_for(category, responded, CALENDAR, SETTINGS)
    days = sla_business_days(category, SETTINGS)
    assert business_hours_between(CALENDAR, responded, sla.due_at) == pytest.approx(days * 9, abs=1e-6)
    assert business_hours_between(CALENDAR, responded, sla.remind_at) == pytest.approx(days * 9 * 0.75, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(moments, categories)
def test_the_reminder_comes_before_the_due_time_and_after_the_answer(responded: datetime, category: str) -> None:
    sla = sla_for(category, responded, CALENDAR, SETTINGS)
    assert responded < sla.remind_at < sla.due_at
    assert sla.first_timer() == ("remind", sla.remind_at)
    # at least the SLA's working days later on the calendar
    assert sla.due_at - responded >= timedelta(days=sla_business_days(category, SETTINGS) - 1)


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(1, 72 * 3600), categories)
def test_a_later_answer_is_never_due_earlier(responded: datetime, later_by: int, category: str) -> None:
    first = sla_for(category, responded, CALENDAR, SETTINGS)
    second = sla_for(category, responded + timedelta(seconds=later_by), CALENDAR, SETTINGS)
    assert second.due_at >= first.due_at
    assert second.remind_at >= first.remind_at


@settings(max_examples=200, deadline=None)
@given(moments)
def test_a_detractor_is_never_due_later_than_a_promoter_answering_at_the_same_moment(responded: datetime) -> None:
    assert (
        sla_for("detractor", responded, CALENDAR, SETTINGS).due_at
        < sla_for("promoter", responded, CALENDAR, SETTINGS).due_at
    )


@pytest.mark.parametrize(
    ("why", "responded", "due"),
    [
        ("Friday 17:00: the weekend does not count", paris(2026, 11, 20, 17, 0), paris(2026, 11, 24, 17, 0)),
        ("Saturday: from Monday's opening", paris(2026, 11, 21, 10, 0), paris(2026, 11, 24, 18, 0)),
        ("Sunday night: the same", paris(2026, 11, 22, 23, 59), paris(2026, 11, 24, 18, 0)),
        ("Monday 8:00, before opening", paris(2026, 11, 23, 8, 0), paris(2026, 11, 24, 18, 0)),
        ("Christmas Eve 17:00, Christmas on a Friday", paris(2026, 12, 24, 17, 0), paris(2026, 12, 29, 17, 0)),
        ("New Year's Eve, New Year's Day off", paris(2026, 12, 31, 12, 0), paris(2027, 1, 5, 12, 0)),
        ("Thursday before May Day (a Friday)", paris(2026, 4, 30, 10, 0), paris(2026, 5, 5, 10, 0)),
        ("May 8th, Victory in Europe day", paris(2026, 5, 7, 14, 0), paris(2026, 5, 12, 14, 0)),
        ("Easter Monday 2027 across the change to summer time", paris(2027, 3, 26, 15, 0), paris(2027, 3, 31, 15, 0)),
        ("Ascension Thursday 2027, then the weekend", paris(2027, 5, 5, 11, 0), paris(2027, 5, 10, 11, 0)),
        ("Whit Monday 2027", paris(2027, 5, 14, 16, 30), paris(2027, 5, 19, 16, 30)),
        ("Bastille Day on a Wednesday", paris(2027, 7, 13, 9, 30), paris(2027, 7, 16, 9, 30)),
        ("Assumption on a Saturday changes nothing", paris(2026, 8, 13, 12, 0), paris(2026, 8, 17, 12, 0)),
        ("All Saints' Day on a Monday", paris(2027, 10, 29, 18, 0), paris(2027, 11, 3, 18, 0)),
        ("Armistice Day on a Thursday", paris(2027, 11, 10, 13, 0), paris(2027, 11, 15, 13, 0)),
    ],
)
def test_a_detractors_due_date_across_weekends_and_french_holidays(
    why: str, responded: datetime, due: datetime
) -> None:
    assert sla_for("detractor", responded.astimezone(UTC), CALENDAR, SETTINGS).due_at == due.astimezone(UTC), why


def test_a_promoter_answering_before_christmas_is_due_in_two_working_weeks_after_the_holidays() -> None:
    # Monday 21 December 2026: 25 December and 1 January are off, 10 working days end on 5 January 18:00
    sla = sla_for("promoter", paris(2026, 12, 21, 9, 0).astimezone(UTC), CALENDAR, SETTINGS)
    assert sla.due_at == paris(2027, 1, 5, 18, 0).astimezone(UTC)
    # the reminder after 67.5 business hours: Wednesday 31 December 13:30
    assert sla.remind_at == paris(2026, 12, 31, 13, 30).astimezone(UTC)


def test_the_named_days_are_french_public_holidays() -> None:
    for day in (date(2026, 12, 25), date(2027, 1, 1), date(2026, 5, 1), date(2026, 5, 8), date(2027, 3, 29),
                date(2027, 5, 6), date(2027, 5, 17), date(2027, 7, 14), date(2026, 8, 15), date(2027, 11, 1),
                date(2027, 11, 11)):  # fmt: skip
        assert not CALENDAR.is_business_day(day), day

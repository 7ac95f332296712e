"""The callback SLA: calendar from settings, due and reminder times, the escalation chain, delays."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from closeloop.rules.sla import (
    business_calendar,
    delays,
    escalation_number,
    next_timer,
    sla_business_days,
    sla_for,
    timer_shard,
)
from closeloop.settings import Settings

PARIS = ZoneInfo("Europe/Paris")
SETTINGS = Settings()


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def test_the_calendar_takes_hours_country_and_the_companys_own_days_from_the_settings() -> None:
    settings = replace(
        SETTINGS,
        business_opens="08:30",
        business_closes="17:30",
        closed_days="2026-12-24, 2026-12-31",
        worked_holidays="2026-05-25",
    )

    calendar = business_calendar(settings)

    assert (calendar.opens, calendar.closes) == (time(8, 30), time(17, 30))
    assert calendar.extra_closed == frozenset({date(2026, 12, 24), date(2026, 12, 31)})
    assert calendar.is_business_day(date(2026, 5, 25))  # Whit Monday, worked here
    assert not calendar.is_business_day(date(2026, 12, 24))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("business_opens", "9h", "business_opens must be HH:MM"), ("closed_days", "24/12/2026", "closed_days")],
)
def test_a_malformed_calendar_setting_is_named(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        business_calendar(replace(SETTINGS, **{field: value}))


def test_detractors_get_the_short_sla_and_the_others_the_long_one() -> None:
    assert sla_business_days("detractor", SETTINGS) == 2
    assert sla_business_days("passive", SETTINGS) == 10
    assert sla_business_days("promoter", SETTINGS) == 10


def test_a_detractor_answering_on_christmas_eve_afternoon_is_due_after_the_holiday_and_the_weekend() -> None:
    calendar = business_calendar(SETTINGS)

    sla = sla_for("detractor", paris(2026, 12, 24, 17), calendar, SETTINGS)

    # 1 h on Thursday 24th, Christmas, the weekend, 9 h on Monday 28th, 8 h on Tuesday 29th
    assert sla.due_at == paris(2026, 12, 29, 17)
    # 75% of 18 business hours = 13.5 h: 1 h + 9 h + 3.5 h on Tuesday
    assert sla.remind_at == paris(2026, 12, 29, 12, 30)
    assert sla.first_timer() == ("remind", sla.remind_at)


def test_without_room_for_a_reminder_the_first_timer_is_the_first_escalation() -> None:
    calendar = business_calendar(SETTINGS)

    sla = sla_for("promoter", paris(2026, 3, 2, 10), calendar, replace(SETTINGS, remind_at_share=1.0))

    assert sla.first_timer() == ("escalate#1", sla.due_at)


def test_the_reminder_is_followed_by_a_daily_escalation_for_as_long_as_it_takes() -> None:
    due = paris(2026, 3, 4, 10)

    step, at = next_timer("remind", paris(2026, 3, 3, 15), due)
    assert (step, at) == ("escalate#1", due)
    step, at = next_timer(step, at, due)
    assert (step, at) == ("escalate#2", due + timedelta(days=1))
    assert next_timer(step, at, due) == ("escalate#3", due + timedelta(days=2))


@pytest.mark.parametrize("step", ["escalate", "escalate#0", "escalate#x", "call#1", ""])
def test_a_step_that_is_not_a_timer_step_is_refused(step: str) -> None:
    with pytest.raises(ValueError, match="not a timer step"):
        escalation_number(step)


def test_delays_are_in_hours_and_business_hours_with_two_decimals() -> None:
    calendar = business_calendar(SETTINGS)

    hours, business = delays(calendar, paris(2026, 3, 6, 17, 20), paris(2026, 3, 9, 9, 40))

    assert hours == Decimal("64.33")  # Friday 17:20 to Monday 9:40
    assert business == Decimal("1.33")  # 40 min on Friday, 40 min on Monday
    assert delays(calendar, paris(2026, 3, 9, 10), paris(2026, 3, 9, 9)) == (Decimal("0.00"), Decimal("0.00"))


def test_timer_shards_spread_over_ten_and_never_move() -> None:
    shards = {timer_shard(f"case-{n}") for n in range(500)}

    assert shards == {str(n) for n in range(10)}
    assert timer_shard("case-1") == timer_shard("case-1")

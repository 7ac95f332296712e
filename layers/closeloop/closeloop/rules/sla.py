"""The callback SLA (DESIGN R4, F7; docs/data-model.md 7.3): due dates, the reminder, the chain of
escalations, and the delays reports count, all in the programme's business time.

A case is due `sla_<category>_business_days` business days (of 9 business hours) after the
response; the reminder fires at `remind_at_share` of that business time; `escalate#1` fires at the
due time and `escalate#n+1` 24 hours after `escalate#n`, for as long as the case has no first
exchange. Pure: no AWS, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from closeloop.rules.business_time import BusinessCalendar, add_business_hours, business_hours_between
from closeloop.settings import Settings

REMIND = "remind"
ESCALATE = "escalate"
ESCALATION_EVERY = timedelta(hours=24)
TIMER_SHARDS = 10


def _clock_time(text: str, name: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as error:
        raise ValueError(f"{name} must be HH:MM, not {text!r}") from error


def _dates(text: str, name: str) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"{name} must be a comma-separated list of YYYY-MM-DD dates") from error


def business_calendar(settings: Settings) -> BusinessCalendar:
    """The programme's working calendar from its settings (time zone, hours, holidays, changes)."""
    return BusinessCalendar(
        timezone=settings.timezone,
        opens=_clock_time(settings.business_opens, "business_opens"),
        closes=_clock_time(settings.business_closes, "business_closes"),
        country=settings.holidays_country,
        extra_closed=_dates(settings.closed_days, "closed_days"),
        worked_holidays=_dates(settings.worked_holidays, "worked_holidays"),
    )


def sla_business_days(category: str, settings: Settings) -> int:
    """Business days to the first exchange: detractors fast, passives and promoters later."""
    if category == "detractor":
        return settings.sla_detractor_business_days
    return settings.sla_other_business_days


@dataclass(frozen=True)
class Sla:
    """A case's SLA, computed once at opening (and again when its category moves)."""

    due_at: datetime
    remind_at: datetime

    def first_timer(self) -> tuple[str, datetime]:
        """The first step a new case waits for: the reminder, or escalate#1 when the reminder
        would not come before the due time."""
        if self.remind_at < self.due_at:
            return REMIND, self.remind_at
        return f"{ESCALATE}#1", self.due_at


def sla_for(category: str, responded_at: datetime, calendar: BusinessCalendar, settings: Settings) -> Sla:
    """Due and reminder times of a case of this category whose response came at `responded_at`."""
    business_hours = sla_business_days(category, settings) * calendar.day_hours
    due = add_business_hours(calendar, responded_at, business_hours)
    remind = add_business_hours(calendar, responded_at, business_hours * settings.remind_at_share)
    return Sla(due_at=due, remind_at=remind)


def escalation_number(step: str) -> int:
    """n of `escalate#n` (0 for the reminder)."""
    name, _, number = step.partition("#")
    if name == REMIND:
        return 0
    if name != ESCALATE or not number.isdigit() or int(number) < 1:
        raise ValueError(f"not a timer step: {step!r}")
    return int(number)


def next_timer(step: str, at: datetime, due_at: datetime) -> tuple[str, datetime]:
    """The step that follows `step` (which fell due at `at`): the reminder is followed by
    escalate#1 at the due time, escalate#n by escalate#n+1 a day later."""
    number = escalation_number(step)
    if number == 0:
        return f"{ESCALATE}#1", due_at
    return f"{ESCALATE}#{number + 1}", at + ESCALATION_EVERY


def timer_shard(case_id: str) -> str:
    """The case's shard of the by_timer index (data-model 1: SHA-256(id)[0] mod 10)."""
    return str(hashlib.sha256(case_id.encode()).digest()[0] % TIMER_SHARDS)


def _two_places(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def delays(calendar: BusinessCalendar, start: datetime, end: datetime) -> tuple[Decimal, Decimal]:
    """Hours and business hours from `start` to `end`, 2 decimal places (0 when end <= start)."""
    hours = max((end - start).total_seconds() / 3600, 0.0)
    return _two_places(hours), _two_places(business_hours_between(calendar, start, end))

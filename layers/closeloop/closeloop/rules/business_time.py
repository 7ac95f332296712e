"""Business time (DESIGN R4, docs/data-model.md 7.3 and 9.4): the programme's working calendar.

A business day is Monday to Friday, 9:00 to 18:00 in the programme's time zone (Europe/Paris by
default), public holidays excluded: 9 business hours. SLA due dates, reminder times and the
business-hours delays of reports all come from the two functions here:

- `add_business_hours(start, hours)`: the moment `hours` business hours after `start`. A start
  outside business time counts from the next opening; a result that falls exactly on a closing
  stays there (18:00, not the next 9:00).
- `business_hours_between(start, end)`: the business hours in [start, end] (0 when end <= start).

The two agree: `business_hours_between(s, add_business_hours(s, h)) == h`. Holidays come from the
`holidays` package (France by default), with the company's own changes in settings (a worked
holiday such as Whit Monday, an extra closed day). Pure: no AWS, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

HOURS_PER_DAY = 9


@lru_cache(maxsize=32)
def public_holidays(country: str, year: int) -> frozenset[date]:
    """A country's public holidays of a year (ISO 3166 code: FR, BE, CH...)."""
    import holidays  # the SLA path only: the survey pages never pay its import

    return frozenset(holidays.country_holidays(country, years=year).keys())


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and hours in one time zone."""

    timezone: str = "Europe/Paris"
    opens: time = time(9)
    closes: time = time(18)
    country: str = "FR"
    extra_closed: frozenset[date] = field(default_factory=frozenset)
    worked_holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError("a business day opens before it closes")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def day_hours(self) -> float:
        return _hours(datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens))

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.extra_closed:
            return False
        return day in self.worked_holidays or day not in public_holidays(self.country, day.year)

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """The opening and closing of a day, as aware datetimes of the calendar's zone."""
        zone = self.zone
        return datetime.combine(day, self.opens, zone), datetime.combine(day, self.closes, zone)

    def _days_from(self, day: date) -> Iterable[date]:
        while True:
            if self.is_business_day(day):
                yield day
            day += timedelta(days=1)


def add_business_hours(calendar: BusinessCalendar, start: datetime, hours: float) -> datetime:
    """The moment `hours` business hours (>= 0) after `start` (aware), in UTC."""
    if start.tzinfo is None:
        raise ValueError("business time needs an aware datetime")
    if hours < 0:
        raise ValueError("business hours to add are not negative")
    local = start.astimezone(calendar.zone)
    left = timedelta(hours=hours)
    for day in calendar._days_from(local.date()):
        opens, closes = calendar._window(day)
        begin = max(opens, local) if day == local.date() else opens
        if begin >= closes:
            continue
        available = closes - begin
        if left <= available:
            return (begin + left).astimezone(ZoneInfo("UTC"))
        left -= available
    raise AssertionError("unreachable: there is always a next business day")  # pragma: no cover


def business_hours_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Business hours from `start` to `end` (aware), 0 when `end` is not after `start`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("business time needs aware datetimes")
    if end <= start:
        return 0.0
    zone = calendar.zone
    first, last = start.astimezone(zone), end.astimezone(zone)
    total = timedelta()
    day = first.date()
    while day <= last.date():
        if calendar.is_business_day(day):
            opens, closes = calendar._window(day)
            begin, finish = max(opens, first), min(closes, last)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return _hours(total)


def due_at(calendar: BusinessCalendar, responded_at: datetime, business_days: float) -> datetime:
    """The SLA's due time: `business_days` business days of `day_hours` after the response."""
    return add_business_hours(calendar, responded_at, business_days * calendar.day_hours)


def _hours(duration: timedelta) -> float:
    return duration.total_seconds() / 3600

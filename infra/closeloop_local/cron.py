"""AWS schedule expressions (rate, cron, at) parsed and turned into occurrences, in a time zone.

Daylight saving time follows what EventBridge Scheduler documents: a cron or at wall time that
occurs twice (clocks going back) fires once, at its first occurrence; a cron wall time that does
not exist (clocks going forward) is skipped, with no invocation that day; a one-time at() whose
wall time does not exist fires at the same distance past the gap (02:30 in a 02:00->03:00 gap
fires at 03:30), since skipping it would lose it for good. rate() counts fixed durations from
its anchor (a day is 24 hours, whatever the clocks do).
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {
    name: i
    for i, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_EXPRESSION = re.compile(r"^\s*(rate|cron|at)\((.*)\)\s*$", re.DOTALL)

DayRule = Callable[[date], bool]


class Schedule(ABC):
    """A parsed schedule expression."""

    expression: str

    @abstractmethod
    def occurrences(
        self, after: datetime, until: datetime, *, tz: str = "UTC", anchor: datetime | None = None
    ) -> Iterator[datetime]:
        """Aware UTC instants in (after, until], in increasing order.

        `tz` is the zone the expression is read in (rate() ignores it); `anchor` is the instant a
        rate() counts from (EventBridge counts from the rule's creation), `after` when omitted.
        """


def parse(expression: str) -> Schedule:
    """Parse `rate(...)`, `cron(...)` or `at(...)`; raise ValueError saying what is wrong."""
    match = _EXPRESSION.match(expression)
    if match is None:
        raise ValueError(f"{expression!r}: expected rate(...), cron(...) or at(...)")
    kind, body = match.group(1), match.group(2).strip()
    if kind == "rate":
        return Rate.parse(expression, body)
    if kind == "cron":
        return Cron.parse(expression, body)
    return At.parse(expression, body)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _check_window(after: datetime, until: datetime) -> None:
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("after and until must be timezone-aware")


def _wall_to_utc(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant of a wall time (first one when it occurs twice), None when it does not exist."""
    instant = local.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local:
        return None
    return instant


@dataclass(frozen=True)
class Rate(Schedule):
    """`rate(5 minutes)`: every fixed period from an anchor instant."""

    expression: str
    period: timedelta

    @classmethod
    def parse(cls, expression: str, body: str) -> Rate:
        parts = body.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"{expression!r}: expected rate(<positive integer> <unit>)")
        value, unit = int(parts[0]), parts[1].lower()
        if value <= 0:
            raise ValueError(f"{expression!r}: the value must be positive")
        singular = unit.removesuffix("s")
        if singular not in _RATE_UNITS:
            raise ValueError(f"{expression!r}: unit must be minute(s), hour(s) or day(s)")
        if (value == 1) != (unit == singular):
            raise ValueError(f"{expression!r}: use a singular unit for 1 and a plural one above 1")
        return cls(expression, timedelta(seconds=value * _RATE_UNITS[singular]))

    def occurrences(
        self,
        after: datetime,
        until: datetime,
        *,
        tz: str = "UTC",  # noqa: ARG002 - one signature for every kind of expression
        anchor: datetime | None = None,
    ) -> Iterator[datetime]:
        _check_window(after, until)
        start = (anchor or after).astimezone(UTC)
        step = 0 if after < start else (after - start) // self.period + 1
        instant = start + step * self.period
        while instant <= until:
            yield instant
            instant += self.period


@dataclass(frozen=True)
class At(Schedule):
    """`at(2025-03-01T09:00:00)`: one wall time, read in the schedule's zone."""

    expression: str
    wall_time: datetime

    @classmethod
    def parse(cls, expression: str, body: str) -> At:
        try:
            wall_time = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 - a wall time
        except ValueError as exc:
            raise ValueError(f"{expression!r}: expected at(yyyy-mm-ddThh:mm:ss)") from exc
        return cls(expression, wall_time)

    def instant(self, tz: str = "UTC") -> datetime:
        """The one instant; a wall time in a DST gap is read with the offset before the gap."""
        return self.wall_time.replace(tzinfo=zone(tz)).astimezone(UTC)

    def occurrences(
        self,
        after: datetime,
        until: datetime,
        *,
        tz: str = "UTC",
        anchor: datetime | None = None,  # noqa: ARG002 - one signature for every kind of expression
    ) -> Iterator[datetime]:
        _check_window(after, until)
        instant = self.instant(tz)
        if after < instant <= until:
            yield instant


@dataclass(frozen=True)
class Cron(Schedule):
    """`cron(minutes hours day-of-month month day-of-week year)` in AWS syntax."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: tuple[int, ...]
    day_rules: tuple[DayRule, ...]

    @classmethod
    def parse(cls, expression: str, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ValueError(f"{expression!r}: cron needs 6 fields, got {len(fields)}")
        minute, hour, day_of_month, month, day_of_week, year = fields
        if (day_of_month == "?") == (day_of_week == "?"):
            raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
        try:
            day_rules = _day_of_week_rules(day_of_week) if day_of_month == "?" else _day_of_month_rules(day_of_month)
            return cls(
                expression,
                minutes=tuple(sorted(_values(minute, 0, 59))),
                hours=tuple(sorted(_values(hour, 0, 23))),
                months=frozenset(_values(month, 1, 12, _MONTHS)),
                years=tuple(sorted(_values(year, 1970, 2199))),
                day_rules=day_rules,
            )
        except ValueError as exc:
            raise ValueError(f"{expression!r}: {exc}") from exc

    def matches_day(self, day: date) -> bool:
        """Whether `day` (a local date) is one of the schedule's days."""
        return day.year in self.years and day.month in self.months and any(r(day) for r in self.day_rules)

    def occurrences(
        self,
        after: datetime,
        until: datetime,
        *,
        tz: str = "UTC",
        anchor: datetime | None = None,  # noqa: ARG002 - one signature for every kind of expression
    ) -> Iterator[datetime]:
        _check_window(after, until)
        zone_info = zone(tz)
        day = after.astimezone(zone_info).date()
        last_day = until.astimezone(zone_info).date()
        while day <= last_day:
            jump = self._next_candidate_month(day)
            if jump is None:
                return
            if jump != day:
                day = jump
                continue
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        instant = _wall_to_utc(datetime.combine(day, time(hour, minute)), zone_info)
                        if instant is None or instant <= after:
                            continue
                        if instant > until:
                            return
                        yield instant
            day += timedelta(days=1)

    def _next_candidate_month(self, day: date) -> date | None:
        """`day` if its year and month can match, else the first day of the next month that can."""
        for year in self.years:
            if year < day.year:
                continue
            for month in sorted(self.months):
                if (year, month) == (day.year, day.month):
                    return day
                if (year, month) > (day.year, day.month):
                    return date(year, month, 1)
        return None


def _number(token: str, low: int, high: int, names: dict[str, int] | None) -> int:
    if names and token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        raise ValueError(f"{token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}-{high}")
    return value


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values of a plain field: `*`, `a`, `a-b`, with an optional `/step`, joined by commas."""
    values: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"bad increment in {item!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, low, high, names), _number(last, low, high, names)
            if start > end:
                raise ValueError(f"range {base!r} runs backwards")
        else:
            start = _number(base, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(year: int, month: int, target: int) -> date:
    """The weekday closest to day `target` of the month, without leaving the month (the W rule)."""
    day = date(year, month, target)
    if day.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return day - timedelta(days=1) if target > 1 else day + timedelta(days=2)
    if day.weekday() == 6:  # Sunday: the Monday after, or the Friday before on the last day
        last = calendar.monthrange(year, month)[1]
        return day + timedelta(days=1) if target < last else day - timedelta(days=2)
    return day


def _aws_weekday(day: date) -> int:
    """1 = Sunday ... 7 = Saturday, as cron's day-of-week counts."""
    return (day.weekday() + 1) % 7 + 1


def _is_last_day(day: date) -> bool:
    return day.day == _last_day(day)


def _is_last_weekday(day: date) -> bool:
    return day == _nearest_weekday(day.year, day.month, _last_day(day))


def _is_nearest_weekday(target: int, day: date) -> bool:
    return target <= _last_day(day) and day == _nearest_weekday(day.year, day.month, target)


def _is_day_in(days: frozenset[int], day: date) -> bool:
    return day.day in days


def _is_last_of_weekday(weekday: int, day: date) -> bool:
    return _aws_weekday(day) == weekday and day.day + 7 > _last_day(day)


def _is_nth_weekday(weekday: int, nth: int, day: date) -> bool:
    return _aws_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth


def _is_weekday_in(weekdays: frozenset[int], day: date) -> bool:
    return _aws_weekday(day) in weekdays


def _day_of_month_rules(field: str) -> tuple[DayRule, ...]:
    rules: list[DayRule] = []
    plain: list[str] = []
    for item in field.split(","):
        if item == "L":
            rules.append(_is_last_day)
        elif item == "LW":
            rules.append(_is_last_weekday)
        elif item.endswith("W"):
            rules.append(partial(_is_nearest_weekday, _number(item[:-1], 1, 31, None)))
        else:
            plain.append(item)
    if plain:
        rules.append(partial(_is_day_in, frozenset(_values(",".join(plain), 1, 31))))
    return tuple(rules)


def _day_of_week_rules(field: str) -> tuple[DayRule, ...]:
    rules: list[DayRule] = []
    plain: list[str] = []
    for item in field.split(","):
        if item == "L":  # alone, L is the last day of the week: Saturday
            rules.append(partial(_is_weekday_in, frozenset({7})))
        elif item.endswith("L"):
            rules.append(partial(_is_last_of_weekday, _number(item[:-1], 1, 7, _DAYS)))
        elif "#" in item:
            day_text, _, nth_text = item.partition("#")
            rules.append(partial(_is_nth_weekday, _number(day_text, 1, 7, _DAYS), _number(nth_text, 1, 5, None)))
        else:
            plain.append(item)
    if plain:
        rules.append(partial(_is_weekday_in, frozenset(_values(",".join(plain), 1, 7, _DAYS))))
    return tuple(rules)

"""Schedule expressions: AWS cron syntax, rate and at, read in a time zone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop_local import cron

PARIS = "Europe/Paris"
ZONES = ["UTC", PARIS, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fire(expression: str, after: datetime, until: datetime, tz: str = "UTC") -> list[datetime]:
    return list(cron.parse(expression).occurrences(after, until, tz=tz))


def local_days(expression: str, after: datetime, until: datetime, tz: str = "UTC") -> list[str]:
    return [t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") for t in fire(expression, after, until, tz)]


# ------------------------------------------------------------------ known dates


def test_l_in_day_of_week_is_the_last_such_weekday_of_the_month() -> None:
    assert local_days("cron(0 10 ? * 5L *)", utc(2025, 1, 1), utc(2025, 4, 1)) == [
        "2025-01-30 10:00",
        "2025-02-27 10:00",
        "2025-03-27 10:00",
    ]


def test_l_alone_in_day_of_week_is_saturday() -> None:
    assert local_days("cron(0 10 ? * L *)", utc(2025, 1, 1), utc(2025, 1, 12)) == [
        "2025-01-04 10:00",
        "2025-01-11 10:00",
    ]


def test_l_in_day_of_month_is_the_last_day_leap_years_included() -> None:
    assert local_days("cron(0 0 L * ? *)", utc(2024, 1, 15), utc(2024, 4, 1)) == [
        "2024-01-31 00:00",
        "2024-02-29 00:00",
        "2024-03-31 00:00",
    ]


def test_hash_is_the_nth_weekday_of_the_month() -> None:
    assert local_days("cron(0 10 ? * 3#2 *)", utc(2025, 1, 1), utc(2025, 4, 1)) == [
        "2025-01-14 10:00",
        "2025-02-11 10:00",
        "2025-03-11 10:00",
    ]


def test_a_fifth_weekday_fires_only_in_months_that_have_one() -> None:
    assert local_days("cron(0 10 ? * MON#5 *)", utc(2025, 1, 1), utc(2025, 5, 1)) == ["2025-03-31 10:00"]


def test_w_moves_a_weekend_day_to_the_nearest_weekday_within_the_month() -> None:
    # 15 Feb 2025 is a Saturday (-> Friday 14), 15 Jun 2025 a Sunday (-> Monday 16)
    assert local_days("cron(0 8 15W * ? *)", utc(2025, 2, 1), utc(2025, 7, 1)) == [
        "2025-02-14 08:00",
        "2025-03-14 08:00",
        "2025-04-15 08:00",
        "2025-05-15 08:00",
        "2025-06-16 08:00",
    ]


def test_1w_on_a_saturday_goes_forward_to_monday_the_third() -> None:
    assert local_days("cron(0 8 1W * ? *)", utc(2025, 1, 20), utc(2025, 2, 20)) == ["2025-02-03 08:00"]


def test_lw_is_the_last_weekday_of_the_month() -> None:
    # 31 May 2025 is a Saturday, 31 Aug 2025 a Sunday
    assert local_days("cron(0 8 LW * ? *)", utc(2025, 5, 1), utc(2025, 9, 1)) == [
        "2025-05-30 08:00",
        "2025-06-30 08:00",
        "2025-07-31 08:00",
        "2025-08-29 08:00",
    ]


def test_names_ranges_lists_and_increments_combine() -> None:
    got = local_days("cron(0/20 8,17 ? jan-feb MON-FRI 2025)", utc(2025, 1, 3), utc(2025, 1, 7))
    assert got == [
        "2025-01-03 08:00",
        "2025-01-03 08:20",
        "2025-01-03 08:40",
        "2025-01-03 17:00",
        "2025-01-03 17:20",
        "2025-01-03 17:40",
        "2025-01-06 08:00",
        "2025-01-06 08:20",
        "2025-01-06 08:40",
        "2025-01-06 17:00",
        "2025-01-06 17:20",
        "2025-01-06 17:40",
    ]


def test_a_distant_year_is_reached_without_walking_every_day() -> None:
    assert fire("cron(0 0 1 1 ? 2190)", utc(2025, 1, 1), utc(2199, 1, 1)) == [utc(2190, 1, 1)]


def test_after_is_exclusive_and_until_inclusive() -> None:
    nine = utc(2025, 1, 6, 9)
    assert fire("cron(0 9 * * ? *)", nine, nine + timedelta(days=1)) == [nine + timedelta(days=1)]


# ------------------------------------------------------------------ time zones and daylight saving


def test_a_daily_paris_schedule_keeps_its_wall_time_across_the_spring_change() -> None:
    assert fire("cron(0 9 * * ? *)", utc(2025, 3, 29), utc(2025, 3, 31, 12), PARIS) == [
        utc(2025, 3, 29, 8),
        utc(2025, 3, 30, 7),
        utc(2025, 3, 31, 7),
    ]


def test_a_wall_time_that_does_not_exist_is_skipped_that_day() -> None:
    # 30 March 2025: Paris clocks jump from 02:00 to 03:00
    assert local_days("cron(30 2 * * ? *)", utc(2025, 3, 28, 12), utc(2025, 4, 1), PARIS) == [
        "2025-03-29 02:30",
        "2025-03-31 02:30",
    ]


def test_a_wall_time_that_happens_twice_fires_once_at_the_first() -> None:
    # 26 October 2025: Paris clocks go back from 03:00 to 02:00
    assert fire("cron(30 2 * * ? *)", utc(2025, 10, 25, 12), utc(2025, 10, 26, 12), PARIS) == [utc(2025, 10, 26, 0, 30)]
    every_half_hour = fire("cron(0/30 * * * ? *)", utc(2025, 10, 25, 23), utc(2025, 10, 26, 2), PARIS)
    assert every_half_hour == [
        utc(2025, 10, 25, 23, 30),
        utc(2025, 10, 26, 0, 0),
        utc(2025, 10, 26, 0, 30),
        utc(2025, 10, 26, 2, 0),
    ]


def test_at_reads_its_wall_time_in_the_zone() -> None:
    assert fire("at(2025-07-01T09:00:00)", utc(2025, 1, 1), utc(2026, 1, 1), PARIS) == [utc(2025, 7, 1, 7)]
    assert fire("at(2025-07-01T09:00:00)", utc(2025, 7, 1, 7), utc(2026, 1, 1), PARIS) == []


def test_at_in_a_spring_gap_fires_just_past_it() -> None:
    assert fire("at(2025-03-30T02:30:00)", utc(2025, 3, 1), utc(2025, 4, 1), PARIS) == [utc(2025, 3, 30, 1, 30)]


def test_rate_counts_fixed_periods_from_its_anchor() -> None:
    anchor = utc(2025, 3, 29, 10, 7)
    got = list(cron.parse("rate(1 day)").occurrences(anchor, utc(2025, 4, 1), tz=PARIS, anchor=anchor))
    assert got == [anchor + timedelta(days=n) for n in (1, 2)]
    minutes = list(
        cron.parse("rate(15 minutes)").occurrences(
            anchor + timedelta(minutes=20), anchor + timedelta(hours=1), anchor=anchor
        )
    )
    assert minutes == [anchor + timedelta(minutes=m) for m in (30, 45, 60)]


# ------------------------------------------------------------------ what is refused


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("cron(0 9 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 * * ?)", "6 fields"),
        ("cron(60 9 * * ? *)", "outside 0-59"),
        ("cron(0 24 * * ? *)", "outside 0-23"),
        ("cron(0 9 32 * ? *)", "outside 1-31"),
        ("cron(0 9 ? * 8 *)", "outside 1-7"),
        ("cron(0 9 * 13 ? *)", "outside 1-12"),
        ("cron(0 9 * * ? 2200)", "outside 1970-2199"),
        ("cron(0 9 ? * MON-SUN *)", "runs backwards"),
        ("cron(0/0 9 * * ? *)", "bad increment"),
        ("cron(L 9 * * ? *)", "not a number"),
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "singular"),
        ("rate(0 minutes)", "positive"),
        ("rate(5 weeks)", "unit"),
        ("at(2025-13-01T00:00:00)", "at(yyyy-mm-ddThh:mm:ss)"),
        ("every day at nine", "expected rate(...), cron(...) or at(...)"),
    ],
)
def test_an_invalid_expression_is_refused_with_its_reason(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        cron.parse(expression)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        fire("cron(0 9 * * ? *)", utc(2025, 1, 1), utc(2025, 1, 2), "Europe/Atlantis")


def test_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fire("cron(0 9 * * ? *)", datetime(2025, 1, 1), utc(2025, 1, 2))


# ------------------------------------------------------------------ properties

DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def simple_crons(draw: st.DrawFn) -> tuple[str, dict[str, set[int]]]:
    """A cron of plain value lists, with the sets a matching local time must fall in."""
    minutes = draw(st.sets(st.integers(0, 59), min_size=1, max_size=4))
    hours = draw(st.sets(st.integers(0, 23), min_size=1, max_size=4))
    months = draw(st.sets(st.integers(1, 12), min_size=1, max_size=12))
    by_weekday = draw(st.booleans())
    days = draw(st.sets(st.integers(1, 7) if by_weekday else st.integers(1, 31), min_size=1, max_size=5))

    def listed(values: set[int]) -> str:
        return ",".join(str(v) for v in sorted(values))

    day_of_month, day_of_week = (
        ("?", ",".join(DAY_NAMES[d - 1] for d in sorted(days)))
        if by_weekday
        else (
            listed(days),
            "?",
        )
    )
    expression = f"cron({listed(minutes)} {listed(hours)} {day_of_month} {listed(months)} {day_of_week} *)"
    fields = {"minutes": minutes, "hours": hours, "months": months}
    fields["weekdays" if by_weekday else "days"] = days
    return expression, fields


def _matches(local: datetime, fields: dict[str, set[int]]) -> bool:
    if local.minute not in fields["minutes"] or local.hour not in fields["hours"]:
        return False
    if local.month not in fields["months"]:
        return False
    if "weekdays" in fields:
        return (local.weekday() + 1) % 7 + 1 in fields["weekdays"]
    return local.day in fields["days"]


starts = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@settings(max_examples=60, deadline=None)
@given(simple_crons(), st.sampled_from(ZONES), starts, st.integers(1, 60))
def test_every_occurrence_matches_its_fields_in_its_zone_and_they_increase(
    cron_fields: tuple[str, dict[str, set[int]]], tz: str, after: datetime, days: int
) -> None:
    expression, fields = cron_fields
    until = after + timedelta(days=days)
    got = fire(expression, after, until, tz)
    assert all(after < t <= until for t in got)
    assert all(earlier < later for earlier, later in itertools.pairwise(got))
    for instant in got:
        local = instant.astimezone(ZoneInfo(tz))
        assert _matches(local, fields), (expression, tz, local)
        assert local.fold == 0, "a repeated wall time fires at its first occurrence only"


@settings(max_examples=40, deadline=None)
@given(simple_crons(), st.sampled_from(ZONES), starts)
def test_no_matching_minute_is_missed(cron_fields: tuple[str, dict[str, set[int]]], tz: str, after: datetime) -> None:
    """Against a brute force walk over every minute of two days (first wall-clock occurrence only)."""
    expression, fields = cron_fields
    after = after.replace(second=0, microsecond=0)
    until = after + timedelta(days=2)
    zone = ZoneInfo(tz)
    expected = [
        instant
        for step in range(1, 2 * 24 * 60 + 1)
        if _matches(local := (instant := after + timedelta(minutes=step)).astimezone(zone), fields) and local.fold == 0
    ]
    assert fire(expression, after, until, tz) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 500),
    st.sampled_from(["minute", "hour", "day"]),
    starts,
    st.integers(0, 10_000),
    st.integers(1, 5000),
)
def test_rate_occurrences_are_whole_periods_after_the_anchor(
    value: int, unit: str, anchor: datetime, skip_minutes: int, span_minutes: int
) -> None:
    expression = f"rate({value} {unit}{'s' if value > 1 else ''})"
    period = timedelta(**{f"{unit}s": value})
    after = anchor + timedelta(minutes=skip_minutes)
    until = after + timedelta(minutes=span_minutes)
    got = list(cron.parse(expression).occurrences(after, until, anchor=anchor))
    assert all(after < t <= until and (t - anchor) % period == timedelta(0) for t in got)
    assert all(later - earlier == period for earlier, later in itertools.pairwise(got))
    first_after = anchor + ((after - anchor) // period + 1) * period
    if first_after > until:
        assert got == []
    else:
        assert got[0] == first_after
        assert got[-1] + period > until

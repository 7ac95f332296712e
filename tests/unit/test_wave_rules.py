"""What makes a wave's plan valid: times, target, texts; and its schedules' names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closeloop.errors import InvalidInput
from closeloop.rules.waves import check_target, check_texts, plan_times, schedule_name

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
THREE_WEEKS = timedelta(days=21)


def test_a_wave_without_times_starts_now_reminds_a_week_later_and_closes_after_three_weeks() -> None:
    times = plan_times(now=NOW, starts_at=None, reminder_delay=WEEK, closes_at=None, open_for=THREE_WEEKS)

    assert (times.starts_at, times.reminder_at, times.closes_at) == (NOW, NOW + WEEK, NOW + THREE_WEEKS)


def test_a_start_a_few_seconds_in_the_past_is_clock_skew_not_an_error() -> None:
    start = NOW - timedelta(seconds=30)

    times = plan_times(now=NOW, starts_at=start, reminder_delay=WEEK, closes_at=None, open_for=THREE_WEEKS)

    assert times.starts_at == start


@pytest.mark.parametrize(
    ("starts_at", "delay", "closes_at", "reason"),
    [
        (NOW - timedelta(minutes=5), WEEK, None, "the start is in the past"),
        (NOW + timedelta(days=1), WEEK, NOW, "the closing must come after the start"),
        (NOW, timedelta(days=30), None, "the reminder would come after the closing"),
        (NOW, timedelta(0), None, "the reminder delay must be positive"),
        (datetime(2027, 3, 2, 9, 0), WEEK, None, "time zone"),
    ],
)
def test_times_that_cannot_work_are_refused_with_the_reason(
    starts_at: datetime, delay: timedelta, closes_at: datetime | None, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        plan_times(now=NOW, starts_at=starts_at, reminder_delay=delay, closes_at=closes_at, open_for=THREE_WEEKS)


def test_a_target_is_sorted_without_duplicates() -> None:
    assert check_target(["pharmacy", "doctor", "pharmacy"], ["fr"], everyone=False) == (["doctor", "pharmacy"], ["fr"])
    assert check_target([], [], everyone=True) == ([], [])


@pytest.mark.parametrize(
    ("segments", "languages", "everyone", "reason"),
    [
        ([], [], False, "choose the target"),
        (["pharmacy"], [], True, "either everyone"),
        (["Pharmacie Centrale"], [], False, "not a segment name"),
        ([], ["de"], False, "is not one of: fr, en"),
    ],
)
def test_a_target_that_says_nothing_or_too_much_is_refused(
    segments: list[str], languages: list[str], everyone: bool, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_target(segments, languages, everyone=everyone)


@pytest.mark.parametrize(
    ("name", "subjects", "intros", "reason"),
    [
        ("  ", {}, {}, "needs a name"),
        ("Q1", {"fr": "Bonjour\r\nBcc: x@y.example"}, {}, "fit on one line"),
        ("Q1", {"de": "Hallo"}, {}, "languages are fr, en"),
        ("Q1", {"en": "x" * 201}, {}, "longer than 200"),
        ("Q1", {}, {"fr": " "}, "intro is empty"),
    ],
)
def test_texts_that_cannot_be_sent_are_refused(
    name: str, subjects: dict[str, str], intros: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_texts(name, subjects, intros)


def test_a_schedule_name_fits_the_scheduler_limit_for_a_short_stage() -> None:
    name = schedule_name("staging", "01J0000000000000000000000W", "reminder")

    assert name == "closeloop-staging-wave-01J0000000000000000000000W-reminder"
    assert len(name) <= 64

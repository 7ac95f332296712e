"""What makes a wave's plan valid: its times, its target, its texts. Pure: `now` is passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from closeloop.errors import InvalidInput

CLOCK_SKEW = timedelta(minutes=1)
"""A start this much in the past is still "now": the caller's clock and ours may differ a little."""

LANGUAGES = ("fr", "en")
SEGMENT = re.compile(r"^[a-z0-9_-]{1,40}$")
NAME_MAX = 200
SUBJECT_MAX = 200
INTRO_MAX = 2000

STEPS = ("start", "reminder", "close")
"""The one-time schedules of a wave."""

_DEFAULT_SUBJECTS = {
    "fr": "{company} : votre avis en une question",
    "en": "{company}: your opinion in one question",
}
_DEFAULT_INTROS = {
    "fr": (
        "Votre avis nous aide à mieux travailler avec vous. Cette enquête tient en une seule question "
        "et ne vous prendra que quelques secondes."
    ),
    "en": (
        "Your opinion helps us work better with you. This survey is a single question and takes only a few seconds."
    ),
}


def default_subjects(company: str) -> dict[str, str]:
    """The subject lines of a new wave, until a manager writes others."""
    return {language: text.format(company=company) for language, text in _DEFAULT_SUBJECTS.items()}


def default_intros() -> dict[str, str]:
    """The intro paragraph of a new wave, until a manager writes another."""
    return dict(_DEFAULT_INTROS)


@dataclass(frozen=True)
class WaveTimes:
    starts_at: datetime
    reminder_at: datetime
    closes_at: datetime


def plan_times(
    *,
    now: datetime,
    starts_at: datetime | None,
    reminder_delay: timedelta,
    closes_at: datetime | None,
    open_for: timedelta,
) -> WaveTimes:
    """The start (default now), the reminder (start + delay) and the closing (default start +
    `open_for`), or InvalidInput saying which rule they break."""
    start = now if starts_at is None else starts_at
    if start.tzinfo is None or (closes_at is not None and closes_at.tzinfo is None):
        raise InvalidInput(
            "times need a time zone (for example 2026-03-02T09:00:00+01:00)", details={"field": "starts_at"}
        )
    if start < now - CLOCK_SKEW:
        raise InvalidInput("the start is in the past: choose a time from now on", details={"field": "starts_at"})
    if reminder_delay <= timedelta(0):
        raise InvalidInput("the reminder delay must be positive", details={"field": "reminder_delay"})
    close = start + open_for if closes_at is None else closes_at
    if close <= start:
        raise InvalidInput("the closing must come after the start", details={"field": "closes_at"})
    reminder = start + reminder_delay
    if reminder >= close:
        raise InvalidInput(
            "the reminder would come after the closing: shorten the delay or close later",
            details={"field": "reminder_delay"},
        )
    return WaveTimes(start.astimezone(UTC), reminder.astimezone(UTC), close.astimezone(UTC))


def check_target(segments: Iterable[str], languages: Iterable[str], *, everyone: bool) -> tuple[list[str], list[str]]:
    """The target's segments and languages, sorted and without duplicates (both empty: everyone)."""
    chosen_segments = sorted(set(segments))
    chosen_languages = sorted(set(languages))
    for segment in chosen_segments:
        if not SEGMENT.match(segment):
            raise InvalidInput(
                f"segment {segment!r} is not a segment name (a-z, 0-9, _ and -, at most 40)",
                details={"field": "target.segments"},
            )
    for language in chosen_languages:
        if language not in LANGUAGES:
            raise InvalidInput(
                f"language {language!r} is not one of: {', '.join(LANGUAGES)}", details={"field": "target.languages"}
            )
    if everyone and (chosen_segments or chosen_languages):
        raise InvalidInput("choose either everyone or segments and languages, not both", details={"field": "target"})
    if not everyone and not chosen_segments and not chosen_languages:
        raise InvalidInput("choose the target: segments, languages, or everyone", details={"field": "target"})
    return chosen_segments, chosen_languages


def check_texts(name: str | None, subjects: dict[str, str], intros: dict[str, str]) -> None:
    """The name and the texts a manager writes: present, not too long, one line for a subject."""
    if name is not None and not name.strip():
        raise InvalidInput("the wave needs a name", details={"field": "name"})
    if name is not None and len(name) > NAME_MAX:
        raise InvalidInput(f"the name is longer than {NAME_MAX} characters", details={"field": "name"})
    for language, subject in subjects.items():
        if language not in LANGUAGES:
            raise InvalidInput(f"subject in {language!r}: languages are {', '.join(LANGUAGES)}")
        if not subject.strip():
            raise InvalidInput(f"the {language} subject is empty", details={"field": f"subjects.{language}"})
        if len(subject) > SUBJECT_MAX:
            raise InvalidInput(
                f"the {language} subject is longer than {SUBJECT_MAX} characters",
                details={"field": f"subjects.{language}"},
            )
        if "\n" in subject or "\r" in subject:
            raise InvalidInput(
                f"the {language} subject must fit on one line", details={"field": f"subjects.{language}"}
            )
    for language, intro in intros.items():
        if language not in LANGUAGES:
            raise InvalidInput(f"intro in {language!r}: languages are {', '.join(LANGUAGES)}")
        if not intro.strip():
            raise InvalidInput(f"the {language} intro is empty", details={"field": f"intros.{language}"})
        if len(intro) > INTRO_MAX:
            raise InvalidInput(
                f"the {language} intro is longer than {INTRO_MAX} characters", details={"field": f"intros.{language}"}
            )


def schedule_name(stage: str, wave_id: str, step: str) -> str:
    """The Scheduler name of a wave's one-time schedule (at most 64 characters)."""
    return f"closeloop-{stage}-wave-{wave_id}-{step}"

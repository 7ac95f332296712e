"""R2, survey pressure: whether a contact may be surveyed by a wave starting at a given time.

A survey is a wave's first email to a contact that was sent (or may have been: "uncertain"); its
reminder and staff test-sends do not count. The contact's ledger (`Contact.survey_dates`) holds
one entry `"<at>#<wave_id>"` per survey claimed, newest first, `at` being the wave's start, in the
fixed-width UTC form of every stored time, so that string order is time order.

The rule, in calendar months of the programme's time zone (a manager says "3 months apart", not
"91 days"):
- gap: a new survey at `t` needs every earlier one at or before `t - min_gap_months`;
- window: at most `max_per_window` surveys in any `window_months` (12) rolling months, so a new
  one at `t` needs fewer than `max_per_window` entries after `t - window_months`.
A month earlier than the 31st of a month is the last day of the shorter month (31 May - 3 months
= 28 or 29 February). When both parts refuse a contact, the gap is the reason given.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

SKIP_REASONS = ("suppressed", "pressure_gap", "pressure_max")
"""Why planning skips a contact, in the order they are checked."""

_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
_AFTER_ANY_WAVE_ID = "#~"
"""Appended to a bound so that an entry at exactly that instant compares below it ("~" sorts after
every character of a wave id)."""


@dataclass(frozen=True)
class PressureRules:
    """The R2 settings: at most `max_per_window` surveys per `window_months`, `min_gap_months` apart."""

    max_per_window: int = 2
    window_months: int = 12
    min_gap_months: int = 3
    timezone: str = "Europe/Paris"

    def __post_init__(self) -> None:
        if self.max_per_window < 1 or self.window_months < 1 or self.min_gap_months < 0:
            raise ValueError("survey pressure needs max >= 1, window >= 1 month and gap >= 0 months")


def instant_text(at: datetime) -> str:
    """A time as every item stores it: fixed-width UTC, so that string order is time order."""
    if at.tzinfo is None:
        raise ValueError("a time without a time zone cannot be stored")
    return at.astimezone(UTC).strftime(_TEXT_FORMAT)


def entry_for(at: datetime, wave_id: str) -> str:
    """The ledger entry of a survey of wave `wave_id` starting at `at`."""
    return f"{instant_text(at)}#{wave_id}"


def parse_entry(entry: str) -> tuple[datetime, str]:
    """(time, wave_id) of a ledger entry."""
    text, _, wave_id = entry.partition("#")
    return datetime.strptime(text, _TEXT_FORMAT), wave_id  # noqa: DTZ007 - the format ends with %z


def months_before(at: datetime, months: int, timezone: str) -> datetime:
    """The same wall-clock time `months` calendar months earlier in `timezone` (day clamped)."""
    local = at.astimezone(ZoneInfo(timezone))
    index = local.year * 12 + (local.month - 1) - months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    shifted = local.replace(year=year, month=month + 1, day=day, fold=0)
    return shifted.astimezone(UTC)


@dataclass(frozen=True)
class Bounds:
    """What the conditional write re-checks on the stored ledger (newest first):
    `survey_dates[0] <= gap` and `survey_dates[max - 1] <= window` (or absent)."""

    gap: str
    window: str
    window_index: int


def bounds(at: datetime, rules: PressureRules) -> Bounds:
    return Bounds(
        gap=instant_text(months_before(at, rules.min_gap_months, rules.timezone)) + _AFTER_ANY_WAVE_ID,
        window=instant_text(months_before(at, rules.window_months, rules.timezone)) + _AFTER_ANY_WAVE_ID,
        window_index=rules.max_per_window - 1,
    )


Outcome = Literal["claim", "claimed", "skip"]


@dataclass(frozen=True)
class Verdict:
    """What to do with one contact: claim a survey (with the new ledger), it is already claimed by
    this wave, or skip it (with the reason)."""

    outcome: Outcome
    reason: str | None = None
    ledger: tuple[str, ...] = ()
    entry: str = ""


def evaluate(ledger: Iterable[str], *, wave_id: str, at: datetime, rules: PressureRules) -> Verdict:
    """R2 for a survey of `wave_id` at `at`, given the contact's stored ledger."""
    entries = sorted(ledger, reverse=True)
    entry = entry_for(at, wave_id)
    if any(parse_entry(existing)[1] == wave_id for existing in entries):
        return Verdict("claimed", entry=entry)
    limits = bounds(at, rules)
    if entries and entries[0] > limits.gap:
        return Verdict("skip", "pressure_gap", entry=entry)
    inside = [existing for existing in entries if existing > limits.window]
    if len(inside) >= rules.max_per_window:
        return Verdict("skip", "pressure_max", entry=entry)
    return Verdict("claim", ledger=(entry, *inside), entry=entry)


def complies(dates: Sequence[datetime], rules: PressureRules) -> bool:
    """Whether a contact's surveys at these times respect R2 (what the property tests hold)."""
    ordered = sorted(dates)
    for earlier, later in itertools.pairwise(ordered):
        if earlier > months_before(later, rules.min_gap_months, rules.timezone):
            return False
    for end in ordered:
        start = months_before(end, rules.window_months, rules.timezone)
        if sum(1 for at in ordered if start < at <= end) > rules.max_per_window:
            return False
    return True

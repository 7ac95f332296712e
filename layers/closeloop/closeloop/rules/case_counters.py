"""What one case adds to the counters (docs/data-model.md 9.1, 9.2, 9.4: metrics `cases`,
`delay#...`, `irritant#<tag>`, and the assignee's `open_cases`). Pure.

The same rule as the response and mail counters (closeloop.rules.nps_counters): every counter is
the sum, over the Cases items, of `contribution(item)`, a function of the case's anonymous
attributes (wave, segment, language, month, category, confirmation, status and close reason,
which of its times are set, its delays, promise, tags and assignee): never the clock, never a
personal attribute. The Cases stream's consumer adds `contribution(new image) -
contribution(old image)`, the recount sums `contribution(item)`, so the two agree; a category that
moves before the first exchange moves every count of the case, a reassignment moves `open_cases`
from one staff item to the other, and a time-based state (overdue, late without an exchange) is
counted once the sweeper has written `breached_at` on the item, never from the clock.

Stats `cases` items, in the 9 survey scopes, per category code `<cat>` (det, pas, pro):
`opened_` (every case), `unconfirmed_` (its response still unconfirmed), `open_` (not closed),
`overdue_` (breached, no first exchange, not closed), `first_`, `first_call_`, `first_reply_`
(a first exchange, by kind), `within_sla_` (first exchange at or before `due_at`), `late_` (first
exchange after `due_at`, or none and breached: a case is in at most one of the two), `fallback_`
(fallback email claimed), `promised_solution_`, `promised_loop_`, `second_` (a second exchange),
`closed_` (closed, loop closed) and `closed_other_` (closed for another reason).
Histograms `delay#first#h`, `delay#first#bh`, `delay#second#h`, `delay#second#bh` in the same
scopes: `<cat>_bNN` (the fixed buckets of 9.4), `<cat>_n`, `<cat>_sum` (hours, 2 places).
`irritant#<tag>` in scopes all, wave, segment, language, month: `n_<cat>`. Staff: `open_cases` of
the assignee while the case is not closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from closeloop.rules.nps import CATEGORIES, category_of
from closeloop.rules.nps_counters import (
    CATEGORY_CODES,
    STATS,
    Counts,
    Target,
    change_of,
    recount,
    survey_scopes,
)

CASES_METRIC = "cases"
STAFF = "staff"
"""Target table of the assignees' `open_cases` (key: staff_id)."""
OPEN_CASES = "open_cases"
DELAY_METRICS = ("delay#first#h", "delay#first#bh", "delay#second#h", "delay#second#bh")
IRRITANT_PREFIX = "irritant#"
TAGS_COUNTED = 5
"""Tags counted per case at most (models.case.TAGS_MAX): what keeps a record within one transaction."""

HOUR_EDGES = (1, 2, 4, 8, 24, 48, 72, 120, 168, 336, 504, 720)
"""Upper bounds (exclusive) of the buckets b00..b11 in hours; b12 is >= 720 (9.4)."""
BUSINESS_HOUR_EDGES = (1, 2, 4, 9, 18, 27, 45, 90, 135, 180)
"""Upper bounds (exclusive) of the buckets b00..b09 in business hours; b10 is >= 180 (9.4)."""
DELAYS = {
    "delay#first#h": ("first_delay_h", HOUR_EDGES),
    "delay#first#bh": ("first_delay_bh", BUSINESS_HOUR_EDGES),
    "delay#second#h": ("second_delay_h", HOUR_EDGES),
    "delay#second#bh": ("second_delay_bh", BUSINESS_HOUR_EDGES),
}
"""Each histogram metric: the case attribute it sums and its bucket edges."""
CASE_COUNTS = (
    "opened",
    "unconfirmed",
    "open",
    "overdue",
    "first",
    "first_call",
    "first_reply",
    "within_sla",
    "late",
    "fallback",
    "promised_solution",
    "promised_loop",
    "second",
    "closed",
    "closed_other",
)
"""Every count of a Stats `cases` item, each followed by `_<cat>`."""
CENTS = Decimal("0.01")


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def category(item: Mapping[str, Any]) -> str | None:
    """The case's category (its own, else its score's), None when it has neither."""
    value = item.get("category")
    if value in CATEGORIES:
        return str(value)
    try:
        return category_of(int(item["score"]))
    except (KeyError, TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    """A time as PynamoDB writes it (`2027-03-02T09:00:00.000000+0000`), None if it is not one
    (a date without its offset is not one either: it could not be compared)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _hours(value: Any) -> Decimal | None:
    """A delay attribute as a number of hours >= 0 with 2 places, None if it is not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        hours = Decimal(str(value))
    except InvalidOperation:
        return None
    if not hours.is_finite() or hours < 0:
        return None
    return hours.quantize(CENTS)


def bucket(hours: Decimal, edges: tuple[int, ...]) -> str:
    """The bucket name (`b00`...) of a delay: the number of edges it reaches."""
    return f"b{sum(1 for edge in edges if hours >= edge):02d}"


def sla_state(item: Mapping[str, Any]) -> str | None:
    """`within_sla`, `late` or None: a first exchange at or before `due_at` is within the SLA, one
    after it is late, and so is a case without one once the sweeper has written `breached_at`."""
    if item.get("first_exchange_at"):
        first, due = _time(item.get("first_exchange_at")), _time(item.get("due_at"))
        if first is None or due is None:
            return None
        return "within_sla" if first <= due else "late"
    return "late" if item.get("breached_at") else None


def case_counts(item: Mapping[str, Any]) -> set[str]:
    """The counts of 9.2 this case is in (without the category suffix)."""
    status = _text(item.get("status")) or "open"
    closed = status == "closed"
    exchanged = bool(item.get("first_exchange_at"))
    counts = {"opened"}
    if item.get("confirmed") is False:
        counts.add("unconfirmed")
    if not closed:
        counts.add("open")
        if not exchanged and item.get("breached_at"):
            counts.add("overdue")
    if exchanged:
        counts.add("first")
        kind = item.get("first_exchange_kind")
        if kind == "call":
            counts.add("first_call")
        elif kind == "reply":
            counts.add("first_reply")
    state = sla_state(item)
    if state:
        counts.add(state)
    if item.get("fallback_at"):
        counts.add("fallback")
    promise = item.get("promise")
    if promise == "solution_now":
        counts.add("promised_solution")
    elif promise == "improvement_loop":
        counts.add("promised_loop")
    if item.get("second_exchange_at"):
        counts.add("second")
    if closed:
        counts.add("closed" if item.get("close_reason") == "loop_closed" else "closed_other")
    return counts


def tags_of(item: Mapping[str, Any]) -> list[str]:
    """The irritant tags counted for this case: at most TAGS_COUNTED, the first in sort order."""
    tags = item.get("tags")
    if not isinstance(tags, set | frozenset | list | tuple):
        return []
    return sorted({tag for tag in tags if isinstance(tag, str) and tag})[:TAGS_COUNTED]


def irritant_scopes(wave_id: str | None, segment: str | None, language: str | None, month: str | None) -> list[str]:
    """Scopes of the irritant counts: all, wave, segment, language, month (those the case has)."""
    scopes = ["all"]
    for prefix, value in (("wave", wave_id), ("segment", segment), ("language", language), ("month", month)):
        if value:
            scopes.append(f"{prefix}#{value}")
    return scopes


def contribution(item: Mapping[str, Any] | None) -> Counts:
    """What one Cases item adds to every counter (empty for no item, or a case without a category)."""
    if not item or not _text(item.get("case_id")):
        return {}
    found = category(item)
    if found is None:
        return {}
    cat = CATEGORY_CODES[found]
    one = Decimal(1)
    wave_id, segment = _text(item.get("wave_id")), _text(item.get("segment"))
    language, month = _text(item.get("language")), _text(item.get("month"))
    scopes = survey_scopes(wave_id, segment, language, month)

    values = {f"{name}_{cat}": one for name in case_counts(item)}
    counts: Counts = {Target(STATS, scope, CASES_METRIC): dict(values) for scope in scopes}
    for metric, (attribute, edges) in DELAYS.items():
        hours = _hours(item.get(attribute))
        if hours is None:
            continue
        histogram = {f"{cat}_{bucket(hours, edges)}": one, f"{cat}_n": one}
        if hours:
            histogram[f"{cat}_sum"] = hours
        for scope in scopes:
            counts[Target(STATS, scope, metric)] = dict(histogram)
    tags = tags_of(item)
    if tags:
        for scope in irritant_scopes(wave_id, segment, language, month):
            for tag in tags:
                counts[Target(STATS, scope, f"{IRRITANT_PREFIX}{tag}")] = {f"n_{cat}": one}
    assignee = _text(item.get("assignee_id"))
    if assignee and item.get("status") != "closed":
        counts[Target(STAFF, assignee)] = {OPEN_CASES: one}
    return counts


def delta(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Counts:
    """What a change of one case moves: contribution(new) - contribution(old), zeros left out."""
    return change_of(contribution, new, old)


def total(items: Iterable[Mapping[str, Any]]) -> Counts:
    """The counters of a set of cases: the recount."""
    return recount(contribution, items)


def observations(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> list[tuple[str, str, Decimal]]:
    """The CloudWatch metrics a change of one case gives, as (name, category, value):
    `cases_opened` when the case appears, `first_exchange_delay_bh` when its first exchange does."""
    if not new:
        return []
    found = category(new)
    if found is None or not _text(new.get("case_id")):
        return []
    seen: list[tuple[str, str, Decimal]] = []
    if not old or category(old) is None:
        seen.append(("cases_opened", found, Decimal(1)))
    if new.get("first_exchange_at") and not (old or {}).get("first_exchange_at"):
        hours = _hours(new.get("first_delay_bh"))
        if hours is not None:
            seen.append(("first_exchange_delay_bh", found, hours))
    return seen

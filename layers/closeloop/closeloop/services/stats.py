"""Counters recomputed from the items, and compared with what Stats holds (docs/data-model.md 9.6).

`recount_nps()` sums `contribution(item)` (closeloop.rules.nps_counters, the function the stream
consumer applies) over every Responses item, read with a parallel Scan of their anonymous
attributes only; `verify_nps()` gives the differences with the Stats `nps` items and the waves'
`responded` counts. `recount_mail()` and `verify_mail()` do the same for the Invitations items
(closeloop.rules.mail_counters: Stats `mail` and the waves' delivered, bounced, complained and
unsubscribed counts), `recount_cases()` and `verify_cases()` for the Cases items
(closeloop.rules.case_counters: Stats `cases`, `delay#...`, `irritant#<tag>` and the staff
members' `open_cases`). They write nothing: the property tests call them once the streams have
drained, and the nightly StatsAudit function runs both twice (`audit_counters`), a minute apart,
to tell a counter the stream has not reached yet from one that is wrong.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer
from pynamodb.models import Model

from closeloop.models import Case, Invitation, Response, Staff, Stat, Wave
from closeloop.rules import case_counters, mail_counters
from closeloop.rules.nps_counters import NPS_METRIC, STATS, WAVE, Counts, Target, total

ANONYMOUS = ["response_id", "wave_id", "segment", "language", "month", "weight", "score", "category"]
ANONYMOUS += ["confirmed", "has_comment"]
WAVE_COUNTS = ("responded", "responded_confirmed")
NPS_ATTRIBUTE = re.compile(r"^(n_(det|pas|pro)_[cu]|w_(det|pas|pro)_[cu]|w2_[cu]|comment_[cu])$")
MAIL_ANONYMOUS = ["invitation_id", "wave_id", "segment", "language", "month", "status", "first.state"]
MAIL_ANONYMOUS += ["reminded_at", *mail_counters.TIMES]
CASE_ANONYMOUS = ["case_id", "wave_id", "segment", "language", "month", "score", "category", "confirmed"]
CASE_ANONYMOUS += ["status", "close_reason", "assignee_id", "due_at", "breached_at", "fallback_at", "promise"]
CASE_ANONYMOUS += ["first_exchange_at", "first_exchange_kind", "second_exchange_at", "tags"]
CASE_ANONYMOUS += ["first_delay_h", "first_delay_bh", "second_delay_h", "second_delay_bh"]
CASES_ATTRIBUTE = re.compile(
    rf"^(({'|'.join(case_counters.CASE_COUNTS)})_(det|pas|pro)|(det|pas|pro)_(b\d\d|n|sum)|n_(det|pas|pro))$"
)
SCAN_SEGMENTS = 4

_deserializer = TypeDeserializer()


@dataclass(frozen=True, order=True)
class Difference:
    """A counter whose stored value is not the recount's."""

    target: Target
    attribute: str
    expected: Decimal  # the recount
    found: Decimal  # what is stored


def _scan(
    model: type[Model], attributes: list[str] | None, segment: int, filter_condition: Any = None
) -> list[dict[str, Any]]:
    connection = model._get_connection()
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = connection.scan(
            attributes_to_get=attributes,
            filter_condition=filter_condition,
            segment=segment,
            total_segments=SCAN_SEGMENTS,
            exclusive_start_key=cast(Any, start),  # the LastEvaluatedKey map, as PynamoDB takes it
            consistent_read=True,
        )
        items += [{name: _deserializer.deserialize(value) for name, value in raw.items()} for raw in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def _parallel_scan(
    model: type[Model], attributes: list[str] | None, filter_condition: Any = None
) -> Iterator[dict[str, Any]]:
    with ThreadPoolExecutor(SCAN_SEGMENTS) as pool:
        pages = pool.map(lambda n: _scan(model, attributes, n, filter_condition), range(SCAN_SEGMENTS))
        for page in pages:
            yield from page


def recount_nps() -> Counts:
    """Every `nps` counter and wave response count, from the Responses items."""
    return total(_parallel_scan(Response, ANONYMOUS))


def stored_nps() -> Counts:
    """What Stats holds in its `nps` items, and the waves in their response counts."""
    stored: Counts = {}
    for item in _parallel_scan(Stat, None, Stat.metric == NPS_METRIC):
        values = {name: Decimal(value) for name, value in item.items() if NPS_ATTRIBUTE.match(name)}
        stored[Target(STATS, str(item["scope"]), NPS_METRIC)] = values
    for item in _parallel_scan(Wave, ["wave_id", *WAVE_COUNTS]):
        stored[Target(WAVE, str(item["wave_id"]))] = {name: Decimal(item[name]) for name in WAVE_COUNTS if name in item}
    return stored


def recount_mail() -> Counts:
    """Every `mail` counter and wave delivery count, from the Invitations items."""
    return mail_counters.total(_parallel_scan(Invitation, MAIL_ANONYMOUS))


def stored_mail() -> Counts:
    """What Stats holds in its `mail` items, and the waves in their delivery counts."""
    stored: Counts = {}
    metric = mail_counters.MAIL_METRIC
    for item in _parallel_scan(Stat, None, Stat.metric == metric):
        values = {name: Decimal(item[name]) for name in mail_counters.MAIL_COUNTS if name in item}
        stored[Target(STATS, str(item["scope"]), metric)] = values
    names = mail_counters.WAVE_COUNTS
    for item in _parallel_scan(Wave, ["wave_id", *names]):
        stored[Target(WAVE, str(item["wave_id"]))] = {name: Decimal(item[name]) for name in names if name in item}
    return stored


def verify_mail() -> list[Difference]:
    """The `mail` counters and wave delivery counts that differ from a recount. Writes nothing."""
    return _differences(recount_mail(), stored_mail())


def recount_cases() -> Counts:
    """Every `cases`, `delay#...` and `irritant#...` counter and staff `open_cases`, from the Cases items."""
    return case_counters.total(_parallel_scan(Case, CASE_ANONYMOUS))


def _is_case_metric(metric: str) -> bool:
    return metric == case_counters.CASES_METRIC or metric.startswith(("delay#", case_counters.IRRITANT_PREFIX))


def stored_cases() -> Counts:
    """What Stats holds in its case items, and every staff member their `open_cases` (an empty
    entry for a staff member without any: they exist, so their counts are compared)."""
    stored: Counts = {}
    condition = (
        (Stat.metric == case_counters.CASES_METRIC)
        | Stat.metric.startswith("delay#")
        | Stat.metric.startswith(case_counters.IRRITANT_PREFIX)
    )
    for item in _parallel_scan(Stat, None, condition):
        if not _is_case_metric(str(item["metric"])):
            continue
        values = {name: Decimal(value) for name, value in item.items() if CASES_ATTRIBUTE.match(name)}
        stored[Target(STATS, str(item["scope"]), str(item["metric"]))] = values
    name = case_counters.OPEN_CASES
    for item in _parallel_scan(Staff, ["staff_id", name]):
        values = {name: Decimal(item[name])} if item.get(name) else {}
        stored[Target(case_counters.STAFF, str(item["staff_id"]))] = values
    return stored


def verify_cases() -> list[Difference]:
    """The case counters and staff `open_cases` that differ from a recount. Writes nothing."""
    return _differences(recount_cases(), stored_cases())


def verify_counters() -> list[Difference]:
    """Every kept counter that differs from a recount: `nps`, `mail` and the cases'. Writes nothing."""
    return sorted(verify_nps() + verify_mail() + verify_cases())


def verify_nps() -> list[Difference]:
    """The counters that differ from a recount (empty: Stats is right), waves that exist only.
    Writes nothing."""
    return _differences(recount_nps(), stored_nps())


def _differences(expected: Counts, found: Counts) -> list[Difference]:
    differences = []
    for target in sorted(set(expected) | set(found)):
        if target.table in (WAVE, case_counters.STAFF) and target not in found:
            continue  # no such wave or staff member: the counters log it and keep its Stats only
        wanted, held = expected.get(target, {}), found.get(target, {})
        for attribute in sorted(set(wanted) | set(held)):
            a, b = wanted.get(attribute, Decimal(0)), held.get(attribute, Decimal(0))
            if a != b:
                differences.append(Difference(target, attribute, a, b))
    return differences


@dataclass(frozen=True)
class Audit:
    """What a nightly audit found: the differences seen in two recounts `pause` seconds apart
    (a counter the stream has not reached yet differs in the first and not in the second)."""

    differences: list[Difference]
    first_seen: int  # differences in the first recount, settled ones included


def audit_counters(*, pause: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> Audit:
    """Verify every counter twice, `pause` seconds apart, and keep the differences found both times
    with the same values: those the streams' lag explains are gone by the second look. Writes
    nothing."""
    first = verify_counters()
    if not first:
        return Audit([], 0)
    sleep(pause)
    lasting = set(first).intersection(verify_counters())
    return Audit(sorted(lasting), len(first))

"""What one invitation adds to the counters (docs/data-model.md 9.1, 9.2, metric `mail`). Pure.

The same rule as the response counters (closeloop.rules.nps_counters): every counter is the sum,
over the Invitations items, of `contribution(item)`, a function of the item's anonymous
attributes (wave, segment, language, month, its first step's state, and which of its times are
set): never the clock, never the address. The Invitations stream's consumer adds
`contribution(new image) - contribution(old image)`, the recount sums `contribution(item)`, so the
two agree, an uncertain email settled as sent moves from `uncertain` to `sent`, and an undone
unsubscribe takes its count back.

Stats `mail` items, in the 9 survey scopes: `targeted` (every item), `skipped` (skipped at
planning: no first step), `reserved` (a first step), `sent`, `uncertain`, `failed`,
`send_skipped` (the first step's final state), `reminded`, and `delivered`, `bounced`,
`complained`, `unsubscribed` (1 when the item's `delivered_at`, `bounced_at`, `complained_at`,
`unsubscribed_at` is set; `delivered_at` is also set by a first response, so that the
participation rate's denominator never misses an answered email whose delivery event was lost).

The wave item gets `delivered`, `bounced`, `complained` and `unsubscribed` only: planning counts
the wave's `targeted`, `skipped_*` and `reserved` at its page checkpoints, dispatch_ledger its
`sent`, `failed`, `uncertain`, `send_skipped` and `finished` from the ledger, and counting them
here too would count them twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from closeloop.rules.nps_counters import STATS, WAVE, Counts, Target, change_of, recount, survey_scopes

MAIL_METRIC = "mail"
STEP_COUNTS = {"sent": "sent", "uncertain": "uncertain", "failed": "failed", "skipped": "send_skipped"}
"""The count of each final state of the first email."""
TIMES = {
    "delivered_at": "delivered",
    "bounced_at": "bounced",
    "complained_at": "complained",
    "unsubscribed_at": "unsubscribed",
}
"""Times whose presence counts 1, on Stats and on the wave."""
WAVE_COUNTS = tuple(TIMES.values())
MAIL_COUNTS = ("targeted", "skipped", "reserved", *STEP_COUNTS.values(), "reminded", *WAVE_COUNTS)
"""Every attribute of a Stats `mail` item."""


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def contribution(item: Mapping[str, Any] | None) -> Counts:
    """What one Invitations item adds to every counter (empty for no item)."""
    if not item or not _text(item.get("invitation_id")):
        return {}
    one = Decimal(1)
    values: dict[str, Decimal] = {"targeted": one}
    first = item.get("first")
    if isinstance(first, Mapping):
        values["reserved"] = one
        count = STEP_COUNTS.get(str(first.get("state")))
        if count:
            values[count] = one
    elif item.get("status") == "skipped":
        values["skipped"] = one
    if item.get("reminded_at"):
        values["reminded"] = one
    times = {name: one for attribute, name in TIMES.items() if item.get(attribute)}
    values.update(times)
    wave_id = _text(item.get("wave_id"))
    counts: Counts = {
        Target(STATS, scope, MAIL_METRIC): dict(values)
        for scope in survey_scopes(
            wave_id, _text(item.get("segment")), _text(item.get("language")), _text(item.get("month"))
        )
    }
    if wave_id and times:
        counts[Target(WAVE, wave_id)] = dict(times)
    return counts


def delta(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Counts:
    """What a change of one invitation moves: contribution(new) - contribution(old), zeros left out."""
    return change_of(contribution, new, old)


def total(items: Iterable[Mapping[str, Any]]) -> Counts:
    """The counters of a set of invitations: the recount."""
    return recount(contribution, items)

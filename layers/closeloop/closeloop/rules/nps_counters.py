"""What one response adds to the counters (docs/data-model.md 9.1, 9.2). Pure.

Every counter is the sum, over the Responses items, of `contribution(item)`, a function of the
item's anonymous attributes only (wave, segment, language, month, weight, category, confirmation,
has_comment): never the clock, never the comment. The stream consumer adds
`contribution(new image) - contribution(old image)` for each record, the recount adds
`contribution(item)` for each item, so the two always agree, a changed score moves a response from
one category to the other, and an erasure (which keeps those attributes) moves nothing.

Stats `nps` items, in the 9 survey scopes: `n_<cat>_<conf>` (responses), `w_<cat>_<conf>` (sum of
weights), `w2_<conf>` (sum of squared weights, for the weighted margin of error) and
`comment_<conf>` (responses with a comment), `<cat>` being det, pas, pro and `<conf>` c
(confirmed) or u (unconfirmed). The wave item: `responded` and `responded_confirmed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from closeloop.rules.nps import CATEGORIES, category_of

STATS, WAVE = "stats", "wave"
NPS_METRIC = "nps"
CATEGORY_CODES = {"detractor": "det", "passive": "pas", "promoter": "pro"}
WEIGHT_PLACES = Decimal("0.0001")
"""Weights are summed with 4 decimal places at most, so every ADD is exact (data-model 1)."""
MAX_WEIGHT = Decimal(1_000_000)


@dataclass(frozen=True, order=True)
class Target:
    """A counter item: a Stats item (`key` = scope, `metric`) or a wave item (`key` = wave_id)."""

    table: str  # stats, wave
    key: str
    metric: str = ""


Counts = dict[Target, dict[str, Decimal]]


def survey_scopes(wave_id: str | None, segment: str | None, language: str | None, month: str | None) -> list[str]:
    """The 9 survey scopes of a response (9.2), those whose dimensions it has."""
    scopes = ["all"]
    wave = f"wave#{wave_id}" if wave_id else None
    parts = {
        "segment": f"segment#{segment}" if segment else None,
        "language": f"language#{language}" if language else None,
    }
    month_scope = f"month#{month}" if month else None
    for single in (wave, *parts.values(), month_scope):
        if single:
            scopes.append(single)
    for outer in (month_scope, wave):
        for inner in parts.values():
            if outer and inner:
                scopes.append(f"{outer}/{inner}")
    return scopes


def weight_of(value: Any) -> Decimal:
    """The response's weight, 4 decimal places; anything that is not a weight of 0 or more (up to
    a million) counts 1."""
    if value is None or isinstance(value, bool):
        return Decimal(1)
    try:
        weight = Decimal(str(value))
        if not weight.is_finite() or not 0 <= weight <= MAX_WEIGHT:
            return Decimal(1)
        return weight.quantize(WEIGHT_PLACES, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        return Decimal(1)


def _category(item: Mapping[str, Any]) -> str | None:
    category = item.get("category")
    if category in CATEGORIES:
        return str(category)
    try:
        return category_of(int(item["score"]))
    except (KeyError, TypeError, ValueError):
        return None


def contribution(item: Mapping[str, Any] | None) -> Counts:
    """What one Responses item adds to every counter (empty for no item, or an item that has no
    category to count)."""
    if not item:
        return {}
    category = _category(item)
    if category is None:
        return {}
    confirmed = item.get("confirmed", True) is not False
    conf = "c" if confirmed else "u"
    cat = CATEGORY_CODES[category]
    weight = weight_of(item.get("weight"))
    values = {f"n_{cat}_{conf}": Decimal(1), f"w_{cat}_{conf}": weight, f"w2_{conf}": weight * weight}
    if item.get("has_comment") is True:
        values[f"comment_{conf}"] = Decimal(1)
    wave_id = item.get("wave_id")
    counts: Counts = {
        Target(STATS, scope, NPS_METRIC): dict(values)
        for scope in survey_scopes(
            str(wave_id) if wave_id else None,
            _text(item.get("segment")),
            _text(item.get("language")),
            _text(item.get("month")),
        )
    }
    if wave_id:
        wave = {"responded": Decimal(1)}
        if confirmed:
            wave["responded_confirmed"] = Decimal(1)
        counts[Target(WAVE, str(wave_id))] = wave
    return counts


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def add_counts(total: Counts, counts: Mapping[Target, Mapping[str, Decimal]], sign: int = 1) -> Counts:
    """`total` plus (or minus) `counts`, in place; zeros and empty targets dropped."""
    for target, values in counts.items():
        into = total.setdefault(target, {})
        for name, value in values.items():
            into[name] = into.get(name, Decimal(0)) + sign * value
            if into[name] == 0:
                del into[name]
        if not into:
            del total[target]
    return total


Contribution = Callable[[Mapping[str, Any] | None], Counts]


def change_of(contribution_of: Contribution, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Counts:
    """What a change of one item moves: contribution(new) - contribution(old), zeros left out."""
    return add_counts(add_counts({}, contribution_of(new)), contribution_of(old), -1)


def recount(contribution_of: Contribution, items: Iterable[Mapping[str, Any]]) -> Counts:
    """The counters of a set of items."""
    counts: Counts = {}
    for item in items:
        add_counts(counts, contribution_of(item))
    return counts


def delta(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Counts:
    """What a change of one response moves."""
    return change_of(contribution, new, old)


def total(items: Iterable[Mapping[str, Any]]) -> Counts:
    """The counters of a set of responses: the recount."""
    return recount(contribution, items)

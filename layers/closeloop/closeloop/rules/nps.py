"""NPS: the category of a score, and the report maths of docs/data-model.md 9.5. Pure.

Detractors score 0-6, passives 7-8, promoters 9-10. NPS = %promoters - %detractors, with its 95%
margin of error from the per-respondent variance p + d - (p - d)^2; the weighted score uses the
sums of weights and of squared weights kept by the counters, and the Kish effective base
n_eff = W^2 / sum(w^2) in place of n. Below the minimum base a score is "insufficient base",
never a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

DETRACTOR, PASSIVE, PROMOTER = "detractor", "passive", "promoter"
CATEGORIES = (DETRACTOR, PASSIVE, PROMOTER)
SCORES = range(11)
Z_95 = 1.96
MINIMUM_BASE = 30
"""The default minimum base (DESIGN 6): below it a score is not shown as a number."""


def category_of(score: int) -> str:
    """ "detractor" (0-6), "passive" (7-8) or "promoter" (9-10); ValueError outside 0-10."""
    if isinstance(score, bool) or int(score) != score or score not in SCORES:
        raise ValueError(f"an NPS score is a whole number from 0 to 10, not {score!r}")
    if score <= 6:
        return DETRACTOR
    if score <= 8:
        return PASSIVE
    return PROMOTER


@dataclass(frozen=True)
class NpsScore:
    """A scope's score as a report shows it: `nps` and `margin` in points, None when the base
    (`n`, or `n_eff` for a weighted score) is below the minimum."""

    base: float  # n, or n_eff for a weighted score
    nps: float | None
    margin: float | None
    promoters: float  # share, 0-1
    detractors: float

    @property
    def insufficient_base(self) -> bool:
        return self.nps is None


def _score(p: float, d: float, base: float, minimum_base: float) -> NpsScore:
    if base <= 0 or base < minimum_base:
        return NpsScore(base, None, None, p, d)
    variance = max(p + d - (p - d) ** 2, 0.0)
    return NpsScore(base, 100 * (p - d), 100 * Z_95 * math.sqrt(variance / base), p, d)


def nps(promoters: int, passives: int, detractors: int, *, minimum_base: int = MINIMUM_BASE) -> NpsScore:
    """The unweighted score of a scope from its counts (confirmed only, or with unconfirmed)."""
    n = promoters + passives + detractors
    if n <= 0:
        return NpsScore(0, None, None, 0.0, 0.0)
    return _score(promoters / n, detractors / n, n, minimum_base)


def weighted_nps(
    w_promoters: Decimal | float,
    w_passives: Decimal | float,
    w_detractors: Decimal | float,
    w2: Decimal | float,
    *,
    minimum_base: int = MINIMUM_BASE,
) -> NpsScore:
    """The score weighted by contact weights: shares of the weight sums, and a margin on the
    Kish effective base W^2 / sum(w^2)."""
    total = float(w_promoters) + float(w_passives) + float(w_detractors)
    if total <= 0 or float(w2) <= 0:
        return NpsScore(0, None, None, 0.0, 0.0)
    n_eff = total**2 / float(w2)
    return _score(float(w_promoters) / total, float(w_detractors) / total, n_eff, minimum_base)

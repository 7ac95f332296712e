"""Who calls a respondent back (DESIGN R5, docs/callbacks.md "Assignment"). Pure: no AWS, no clock.

The contact's account owner first, when they are an active caller with room (open cases under
their capacity); otherwise the active caller with the lowest load, open cases over capacity,
ties broken by staff id so that the same loads always give the same pick. A capacity of 0 means
"never assign to me". When every caller is full, the case still goes to the least loaded caller
over capacity: a customer left with nobody to call them is worse than a busy caller, and managers
see the overload. Nobody at all only when no caller can ever take a case (an empty pool, or only
capacities of 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

OWNER: Literal["owner"] = "owner"
LOAD: Literal["load"] = "load"
Kind = Literal["owner", "load"]


@dataclass(frozen=True)
class Candidate:
    """A staff member who might take the case, with the load assignment weighs."""

    staff_id: str
    open_cases: int
    capacity: int
    active: bool = True
    in_pool: bool = True  # in the caller group (Staff.pool = "caller")

    @property
    def can_take(self) -> bool:
        """May ever be given a case."""
        return self.active and self.in_pool and self.capacity > 0

    @property
    def has_room(self) -> bool:
        return self.can_take and self.open_cases < self.capacity

    @property
    def load(self) -> Fraction:
        """Open cases over capacity, exact (no float ties)."""
        return Fraction(max(self.open_cases, 0), self.capacity)


@dataclass(frozen=True)
class Pick:
    staff_id: str
    kind: Kind


def _least_loaded(candidates: Iterable[Candidate]) -> Candidate | None:
    return min(candidates, key=lambda found: (found.load, found.staff_id), default=None)


def pick_assignee(
    owner: Candidate | None, pool: Iterable[Candidate], *, exclude: frozenset[str] = frozenset()
) -> Pick | None:
    """The assignee of a new case (or of a case handed back: `exclude` names who may not have it)."""
    if owner is not None and owner.staff_id not in exclude and owner.has_room:
        return Pick(owner.staff_id, OWNER)
    takers = [found for found in pool if found.can_take and found.staff_id not in exclude]
    chosen = _least_loaded(found for found in takers if found.has_room) or _least_loaded(takers)
    return Pick(chosen.staff_id, LOAD) if chosen is not None else None


class PickLedger:
    """The picks this container made that the stored loads may not show yet.

    `Staff.open_cases` is kept by the counters from the Cases stream, so it lags the openings by a
    few seconds: a batch of ten openings would all see the same loads and pile onto one caller.
    The ledger remembers, per staff member, the stored load it first saw (`base`) and how many
    cases it gave them since (`picks`). The load to weigh is `max(stored, base + picks)`: the
    stored value once the counters have caught up with (or gone past) our picks, ours until then.
    When the stored value reaches `base + picks`, or `horizon` seconds pass without a pick (the
    counters are seconds behind, not minutes), the entry is forgotten. Closings during the lag
    make the estimate err on the busy side, never the idle one.
    """

    def __init__(self, horizon: float = 60.0) -> None:
        self.horizon = horizon
        self._entries: dict[str, tuple[int, int, float]] = {}

    def effective(self, candidate: Candidate, at: float) -> Candidate:
        """The candidate with the load to weigh at `at` (seconds, any monotonic origin)."""
        entry = self._entries.get(candidate.staff_id)
        if entry is None:
            return candidate
        base, picks, last = entry
        if candidate.open_cases >= base + picks or at - last > self.horizon:
            del self._entries[candidate.staff_id]
            return candidate
        return Candidate(candidate.staff_id, base + picks, candidate.capacity, candidate.active, candidate.in_pool)

    def note(self, staff_id: str, stored_open_cases: int, at: float) -> None:
        """A case was given to `staff_id`, whose stored load was read as `stored_open_cases`."""
        base, picks, _last = self._entries.get(staff_id, (stored_open_cases, 0, at))
        self._entries[staff_id] = (base, picks + 1, at)

    def forget(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

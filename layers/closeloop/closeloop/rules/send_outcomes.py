"""What a change on the send ledger means for an invitation and for its wave's counts. Pure.

The ledger (SendBatches) holds one outcome per invitation of a batch: `deferred` until SES has
taken or refused the email for good, then `sent`, `failed`, `skipped` or `uncertain`. An outcome
may still change after that in one way only: an `uncertain` mark made by a redelivered message
is replaced by the truth its claimant recorded (`sent`, `failed` or `deferred`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FINAL = ("sent", "failed", "skipped", "uncertain")
OPEN_STEP_STATES = frozenset({"reserved", "sending", "deferred"})
"""States of an invitation's step that a first outcome (or a deferral) may replace."""

NOT_SENT = frozenset({"failed", "skipped"})
"""Final outcomes of an email that never left: a first email's survey claim (R2) is given back."""

WAVE_COUNT_OF = {"sent": "sent", "failed": "failed", "uncertain": "uncertain", "skipped": "send_skipped"}
"""The wave count each final outcome of a first email adds to (with `finished`)."""


@dataclass(frozen=True)
class OutcomeChange:
    invitation_id: str
    before: str | None  # the ledger's state before the change (None: no outcome yet)
    outcome: Mapping[str, Any]  # the ledger's outcome after it

    @property
    def after(self) -> str:
        return str(self.outcome.get("state"))


def outcome_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[OutcomeChange]:
    """Outcomes that changed between two images of a ledger item's `outcomes` map."""
    old = old or {}
    changes = []
    for invitation_id, outcome in (new or {}).items():
        if not isinstance(outcome, Mapping):
            continue
        previous = old.get(invitation_id)
        if previous == outcome:
            continue
        before = str(previous.get("state")) if isinstance(previous, Mapping) else None
        changes.append(OutcomeChange(str(invitation_id), before, outcome))
    return sorted(changes, key=lambda change: change.invitation_id)


def expected_step_states(before: str | None) -> frozenset[str]:
    """The invitation step states in which this change is still to be applied.

    Once applied, the step holds the new state, which is not among them (except a deferral after
    a deferral, which changes no count): a retried stream record applies nothing twice.
    """
    if before == "uncertain":
        return frozenset({"uncertain"})
    return OPEN_STEP_STATES


def wave_deltas(step: str, before: str | None, after: str) -> dict[str, int]:
    """What a change adds to the wave's counts: first emails only (reminders count at planning)."""
    if step != "first":
        return {}
    deltas: dict[str, int] = {}
    for state, sign in ((before, -1), (after, 1)):
        count = WAVE_COUNT_OF.get(state or "")
        if count is not None:
            deltas[count] = deltas.get(count, 0) + sign
            deltas["finished"] = deltas.get("finished", 0) + sign
    return {name: value for name, value in deltas.items() if value}


def add_deltas(total: dict[str, int], deltas: Mapping[str, int]) -> dict[str, int]:
    for name, value in deltas.items():
        total[name] = total.get(name, 0) + value
    return {name: value for name, value in total.items() if value}


def gives_survey_back(step: str, change: OutcomeChange) -> bool:
    """Whether this change ends a first email unsent, so that its R2 claim must be released: the
    survey never happened (a reminder claims nothing)."""
    return step == "first" and change.after in NOT_SENT

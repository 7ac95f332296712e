"""What a response makes of its case (docs/callbacks.md "Opening a case"). Pure: no AWS, no clock.

`change_of` reads a Responses stream record: an opening (the first image that is a whole
response), a move (the category changed), a mirror (score or confirmation changed) or nothing.
`timer_after_move` says which SLA step a moved case waits for, given the steps already fired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from closeloop.rules.sla import ESCALATE, Sla, escalation_number

Change = Literal["open", "move", "mirror", "none"]
LANGUAGES = ("fr", "en")


def _same_number(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and float(a) == float(b)
    except (TypeError, ValueError):
        return False


def confirmed_of(image: Mapping[str, Any]) -> bool:
    return image.get("confirmed", True) is not False


def change_of(event_name: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Change:
    """What one Responses stream record asks of the case."""
    if not new or not new.get("category") or not new.get("response_id"):
        return "none"  # removed, or not a response yet (moto streams a key-only INSERT before the item)
    if event_name == "INSERT" or not old or not old.get("category"):
        return "open"
    if new.get("category") != old.get("category"):
        return "move"
    if not _same_number(new.get("score"), old.get("score")) or confirmed_of(new) != confirmed_of(old):
        return "mirror"
    return "none"


def script_of(category: str, language: str | None) -> str:
    """The call script of a case: `<category>.<language>` (templates/scripts/)."""
    return f"{category}.{language if language in LANGUAGES else LANGUAGES[0]}"


@dataclass(frozen=True)
class MovedTimer:
    """The SLA step a case waits for after its category moved: `step` None keeps the pending one."""

    step: str | None
    at: datetime | None
    keeps_breach: bool


def fired_step(last_timer: str | None) -> int:
    """-1 when no step fired yet, 0 after the reminder, n after `escalate#n`."""
    if not last_timer:
        return -1
    return escalation_number(last_timer.partition("@")[0])


def timer_after_move(sla: Sla, last_timer: str | None, now: datetime) -> MovedTimer:
    """The next step under the new SLA. A reminder is sent once per case: after one fired (or when
    the new due time has passed) the case waits for `escalate#1` at the new due time. A case
    already escalated that is still late under the new SLA keeps its chain (one escalation a day);
    one that is not late any more loses its breach and waits for `escalate#1` at the new due time."""
    fired = fired_step(last_timer)
    first = f"{ESCALATE}#1"
    if fired >= 1:
        if sla.due_at <= now:
            return MovedTimer(None, None, keeps_breach=True)
        return MovedTimer(first, sla.due_at, keeps_breach=False)
    if fired == 0 or sla.due_at <= now:
        return MovedTimer(first, sla.due_at, keeps_breach=True)
    step, at = sla.first_timer()
    return MovedTimer(step, at, keeps_breach=True)

"""The domain events a change of a response makes (docs/data-model.md 8.2). Pure.

`ResponseCaptured` when a response appears; `ResponseChanged` when its score (hence perhaps its
category), its comment or its confirmation changes. Details carry ids and categories only: never
a score, a comment or anything else personal. Writes of the eraser (the new image gains
`erased_at`, or loses its comment while `has_comment` stays) are no change for subscribers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESPONSE_CAPTURED = "ResponseCaptured"
RESPONSE_CHANGED = "ResponseChanged"
SCHEMA = 1


@dataclass(frozen=True)
class DomainEvent:
    name: str  # the DetailType
    detail: dict[str, Any]


def _same_number(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and float(a) == float(b)
    except (TypeError, ValueError):
        return False


def changes_of(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """What changed for a subscriber, in a fixed order: `score`, `comment`, `confirmation`."""
    changed = []
    if not _same_number(new.get("score"), old.get("score")) or new.get("category") != old.get("category"):
        changed.append("score")
    had, has = old.get("has_comment") is True, new.get("has_comment") is True
    texts = old.get("comment"), new.get("comment")
    if had != has or (None not in texts and texts[0] != texts[1]):
        changed.append("comment")
    if (old.get("confirmed", True) is not False) != (new.get("confirmed", True) is not False):
        changed.append("confirmation")
    return changed


def response_events(
    event_id: str, event_name: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None, occurred_at: str
) -> list[DomainEvent]:
    """The events of one Responses stream record (INSERT, MODIFY or REMOVE)."""
    if not new or not new.get("category"):
        return []  # removed, or not a response yet (moto streams a key-only INSERT before the item)
    envelope = {"occurred_at": occurred_at, "schema": SCHEMA}
    ids = {"response_id": new.get("response_id"), "wave_id": new.get("wave_id"), "contact_id": new.get("contact_id")}
    confirmed = new.get("confirmed", True) is not False
    if event_name == "INSERT" or not old:
        detail = {
            "event_id": f"{event_id}:{RESPONSE_CAPTURED}",
            **envelope,
            **ids,
            "category": new.get("category"),
            "confirmed": confirmed,
            "has_comment": new.get("has_comment") is True,
            "segment": new.get("segment"),
            "language": new.get("language"),
        }
        return [DomainEvent(RESPONSE_CAPTURED, detail)]
    if new.get("erased_at") and not old.get("erased_at"):
        return []
    changed = changes_of(new, old)
    if not changed:
        return []
    detail = {
        "event_id": f"{event_id}:{RESPONSE_CHANGED}",
        **envelope,
        **ids,
        "category": new.get("category"),
        "previous_category": old.get("category"),
        "confirmed": confirmed,
        "changed": changed,
    }
    return [DomainEvent(RESPONSE_CHANGED, detail)]

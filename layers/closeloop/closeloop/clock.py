"""The one clock all domain code reads time from.

On AWS it is the real clock. The local runtime moves it: it may shift it by an offset (time
travel) or freeze it at a schedule occurrence, and tells each worker before an invocation.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_offset = timedelta(0)
_frozen_at: datetime | None = None


def now() -> datetime:
    """The current domain time, timezone-aware, in UTC."""
    frozen = _frozen_at
    if frozen is not None:
        return frozen
    return datetime.now(UTC) + _offset


def set_state(*, offset_seconds: float = 0.0, frozen_at: datetime | str | None = None) -> None:
    """Move the clock: shift it from real time, or freeze it at one instant (local runtime, tests).

    Takes what `state()` gives (an ISO-8601 string for `frozen_at`) as well as a datetime.
    """
    global _offset, _frozen_at  # noqa: PLW0603 - the clock is process state by design
    if isinstance(frozen_at, str):
        frozen_at = datetime.fromisoformat(frozen_at)
    if frozen_at is not None and frozen_at.tzinfo is None:
        raise ValueError("frozen_at must be timezone-aware")
    with _lock:
        _offset = timedelta(seconds=offset_seconds)
        _frozen_at = frozen_at.astimezone(UTC) if frozen_at is not None else None


def state() -> dict[str, object]:
    """The clock's state, in the shape set_state takes (JSON-friendly)."""
    return {
        "offset_seconds": _offset.total_seconds(),
        "frozen_at": _frozen_at.isoformat() if _frozen_at else None,
    }


def reset() -> None:
    """Back to real time."""
    set_state()

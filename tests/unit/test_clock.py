"""The domain clock: real time by default, moved by the local runtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closeloop import clock


def test_the_clock_reads_real_time_in_utc_by_default() -> None:
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is not None
    assert before <= now <= datetime.now(UTC)


def test_an_offset_moves_the_clock_forward_and_it_keeps_running() -> None:
    clock.set_state(offset_seconds=3 * 86400)
    shifted = clock.now() - datetime.now(UTC)
    assert timedelta(days=3) - timedelta(seconds=1) < shifted <= timedelta(days=3)


def test_a_frozen_clock_answers_the_same_instant_in_utc() -> None:
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock.set_state(frozen_at=at)
    assert clock.now() == at
    assert clock.now() == at
    assert clock.state() == {"offset_seconds": 0.0, "frozen_at": "2026-11-23T09:00:00+00:00"}


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set_state(frozen_at=datetime(2026, 11, 23, 9, 0))


def test_reset_goes_back_to_real_time() -> None:
    clock.set_state(offset_seconds=-3600)
    clock.reset()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1

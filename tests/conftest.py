"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from closeloop import clock
from closeloop.caches import forget_all


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts with no cached settings, clients, connections, health or moved clock."""
    forget_all()
    clock.reset()
    yield
    forget_all()
    clock.reset()

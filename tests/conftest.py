"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from closeloop import aws, clock
from closeloop.models import reset_connections
from closeloop.services import health
from closeloop.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts with no cached settings, clients, connections, health or moved clock."""
    get_settings.cache_clear()
    aws.reset()
    reset_connections()
    health.forget()
    clock.reset()
    yield
    get_settings.cache_clear()
    aws.reset()
    reset_connections()
    clock.reset()

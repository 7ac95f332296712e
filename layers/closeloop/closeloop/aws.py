"""AWS clients, created once per container on first use, replaceable by tests."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


def client(service: str) -> Any:
    """The shared boto3 client of a service (region and endpoint from the environment)."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]
        return _clients[service]


def use_client(service: str, value: Any) -> None:
    """Inject a client (a stub, or one with other settings)."""
    with _lock:
        _clients[service] = value


def reset() -> None:
    """Forget every client (tests switching endpoints or credentials)."""
    with _lock:
        _clients.clear()

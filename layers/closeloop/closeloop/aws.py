"""AWS clients, created once per container on first use, replaceable by tests."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_sessions: list[boto3.session.Session] = []  # one session a container: it loads botocore's data once

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
# SES has no idempotency key: a send retried after a timeout may be a second email. Its calls are
# made once; the sender decides what happens next from its ledger (docs/dispatch.md).
_ONCE = _CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1}))
# S3 signs (and presigns) with Signature Version 4 in every region.
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4")), "sesv2": _ONCE, "ses": _ONCE}


def client(service: str) -> Any:
    """The shared boto3 client of a service (region and endpoint from the environment)."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            config = _SERVICE_CONFIG.get(service, _CONFIG)
            if not _sessions:
                _sessions.append(boto3.session.Session())
            _clients[service] = _sessions[0].client(service, config=config)  # type: ignore[call-overload]
        return _clients[service]


def use_client(service: str, value: Any) -> None:
    """Inject a client (a stub, or one with other settings)."""
    with _lock:
        _clients[service] = value


def reset() -> None:
    """Forget every client (tests switching endpoints or credentials)."""
    with _lock:
        _clients.clear()
        _sessions.clear()

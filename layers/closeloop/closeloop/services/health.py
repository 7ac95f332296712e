"""Health: can this function reach the tables it was given?"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from closeloop import aws
from closeloop.settings import Settings, get_settings

HEALTHY_FOR_SECONDS = 15.0


@dataclass(frozen=True)
class Health:
    healthy: bool
    unreachable: dict[str, str] = field(default_factory=dict)  # table name -> why


_cache_lock = threading.Lock()
_last_healthy_at = 0.0


def check_tables(settings: Settings | None = None, *, use_cache: bool = True) -> Health:
    """Describe every table of the settings; a healthy answer is reused for a few seconds."""
    global _last_healthy_at  # noqa: PLW0603 - one cache per container
    if use_cache and time.monotonic() - _last_healthy_at < HEALTHY_FOR_SECONDS:
        return Health(healthy=True)
    settings = settings or get_settings()
    client = aws.client("dynamodb")
    unreachable: dict[str, str] = {}
    for table in settings.tables().values():
        try:
            status = client.describe_table(TableName=table)["Table"]["TableStatus"]
        except ClientError as error:
            unreachable[table] = error.response.get("Error", {}).get("Code", "error")
            continue
        except BotoCoreError as error:
            unreachable[table] = type(error).__name__
            continue
        if status not in {"ACTIVE", "UPDATING"}:
            unreachable[table] = status
    if not unreachable:
        with _cache_lock:
            _last_healthy_at = time.monotonic()
    return Health(healthy=not unreachable, unreachable=unreachable)


def forget() -> None:
    """Drop the cached healthy answer (tests)."""
    global _last_healthy_at  # noqa: PLW0603
    _last_healthy_at = 0.0

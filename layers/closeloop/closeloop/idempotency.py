"""Create routes made idempotent by an `Idempotency-Key` header (Powertools idempotency, 24 hours).

A client that retries a create with the same key gets the first answer instead of a second item
(docs/data-model.md 4.8). The key is scoped by the caller and the operation; what is kept is what
`create` returns, which must hold ids only, never personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from closeloop import aws
from closeloop.errors import Conflict, InvalidInput
from closeloop.settings import get_settings

HEADER = "idempotency-key"
EXPIRES_AFTER_SECONDS = 24 * 3600
_KEY = re.compile(r"^[A-Za-z0-9_.:=+/-]{1,128}$")

_persistence: Any = None


def _store() -> Any:
    global _persistence  # noqa: PLW0603 - one persistence layer per container
    if _persistence is None:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        _persistence = DynamoDBPersistenceLayer(
            table_name=get_settings().idempotency_table, boto3_client=aws.client("dynamodb")
        )
    return _persistence


def forget() -> None:
    """Drop the persistence layer (tests switching endpoints)."""
    global _persistence  # noqa: PLW0603
    _persistence = None


def once(
    key: str | None,
    *,
    caller: str,
    operation: str,
    create: Callable[[], dict[str, Any]],
    context: Any = None,
) -> dict[str, Any]:
    """`create()` once per (caller, operation, key) within 24 hours; without a key, every time.
    `context`: the Lambda context, so that a request cut short by a timeout can be retried."""
    if key is None:
        return create()
    if not _KEY.match(key):
        raise InvalidInput("the Idempotency-Key header must be 1 to 128 letters, digits or - _ . : = + /")
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    config = IdempotencyConfig(expires_after_seconds=EXPIRES_AFTER_SECONDS)
    if context is not None:
        config.register_lambda_context(context)

    @idempotent_function(data_keyword_argument="request", persistence_store=_store(), config=config)
    def run(request: dict[str, str]) -> dict[str, Any]:  # noqa: ARG001 - the request is the key
        return create()

    try:
        result: dict[str, Any] = run(request={"operation": operation, "caller": caller, "key": key})
    except IdempotencyAlreadyInProgressError:
        raise Conflict("the same request (same Idempotency-Key) is still in progress: try again") from None
    return result

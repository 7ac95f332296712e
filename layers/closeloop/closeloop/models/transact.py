"""Many conditional updates in TransactWriteItems, item by item: which ones failed their condition.

PynamoDB's model `update` adds the model's version to every write it makes; the survey claims of
planning must not touch `Contact.version` (a claim and a contact edit never fail each other), so
these requests are built from expressions against the key alone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.constants import KEY
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

MAX_ACTIONS = 100
"""Items in one TransactWriteItems."""

CONDITION_FAILED = "ConditionalCheckFailed"


class TransactionGaveUp(Exception):
    """Conflicts (or throttling) kept cancelling a transaction: the caller retries later."""


def update_request(
    model: type[Model], hash_key: Any, actions: Sequence[Action], condition: Condition | None = None
) -> dict[str, Any]:
    """One Update of a transaction, on the item of `model` with this hash key."""
    hash_value, _ = model._serialize_keys(hash_key, None)
    request: dict[str, Any] = model._get_connection().get_operation_kwargs(
        hash_value, key=KEY, actions=list(actions), condition=condition
    )
    return request


def transact_updates(
    model: type[Model],
    requests: Sequence[dict[str, Any]],
    *,
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> set[int]:
    """Write the updates, at most 100 to a transaction; the indexes of those whose condition failed.

    A transaction is all or nothing, so a cancelled one is read item by item
    (`CancellationReasons`): the updates whose condition failed are left out and the rest is
    written again at once; a conflict with another transaction (or throttling) is retried after a
    random pause, then TransactionGaveUp. Everything not reported failed has been written.
    `model` only lends its connection (any table may be named by the requests).
    """
    failed: set[int] = set()
    connection = model._get_connection().connection
    for start in range(0, len(requests), MAX_ACTIONS):
        pending = list(range(start, min(start + MAX_ACTIONS, len(requests))))
        tries = 0
        while pending:
            try:
                connection.transact_write_items(
                    condition_check_items=[],
                    delete_items=[],
                    put_items=[],
                    update_items=[requests[index] for index in pending],
                )
                break
            except TransactWriteError as error:
                reasons = error.cancellation_reasons
                if not reasons:
                    raise
                refused = {pending[k] for k, reason in enumerate(reasons) if reason and reason.code == CONDITION_FAILED}
                if refused:
                    failed |= refused
                    pending = [index for index in pending if index not in refused]
                    continue
                tries += 1
                if tries >= attempts:
                    codes = sorted({reason.code for reason in reasons if reason})
                    raise TransactionGaveUp(f"transaction cancelled {tries} times: {', '.join(codes)}") from error
                sleep(random.uniform(0, 0.05 * 2**tries))  # noqa: S311 - jitter, not a secret
    return failed

"""moto's server for the local runtime and the benchmarks, without three costs that real AWS does
not have. None of them changes what moto answers.

- Nagle's delay: werkzeug writes a response's headers and its body in two sends; with Nagle's
  algorithm on, the body waits for the client's delayed ACK of the headers, about 40 ms on Linux,
  so every AWS call to a local moto server took 40 ms whatever its work. TCP_NODELAY on the
  server's sockets (the gateway does the same, closeloop_local.gateway).
- SQS receives in O(n^2): for each message it looks at, moto computes every attribute of the
  queue, counts of all its messages included, to read one number (the retention period). With a
  thousand messages waiting (a wave of 10,000 contacts), receiving took most of the CPU. The
  retention period is read directly.
- Transactions copying a table once per item: to roll a failed transaction back, moto deep-copies
  each touched table for every item of the transaction (10 items on one table: 10 copies). The
  copy is made once per table and transaction; the state restored is the same.

And one thing moto gets wrong under concurrency, which DynamoDB never does: its server serves
requests on threads, and a conditional write checks then writes in two steps, so two concurrent
`attribute_not_exists` writes of one item could both pass; worse, a cancelled transaction
restores the tables as they were when it began, erasing writes made meanwhile. Every DynamoDB
read and write of the backend takes one lock, so each is atomic, as DynamoDB's are.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.core.utils import unix_time
from moto.dynamodb import models as dynamodb_models
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import ThreadedMotoServer
from moto.sqs.models import Message, SQSBackend

from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.moto_streams import streams_survive_rollbacks

_applied = False
_copies = threading.local()


class _CopyOncePerTransaction:
    """Stands for the `copy` module inside moto's DynamoDB models (it only calls deepcopy)."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        memo: dict[int, Any] | None = getattr(_copies, "memo", None)
        if memo is None:
            return copy.deepcopy(value)
        if id(value) not in memo:
            memo[id(value)] = copy.deepcopy(value)
        return memo[id(value)]


def _speed_up_moto() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    exact_numbers()  # ADD keeps DynamoDB's exact numbers (closeloop_local.moto_numbers)
    streams_survive_rollbacks()  # a cancelled transaction leaves readers on the live shard (moto_streams)
    MotoRequestHandler.disable_nagle_algorithm = True  # socketserver.StreamRequestHandler's switch

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]

    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        _copies.memo = {}
        try:
            return original(self, transact_items)
        finally:
            _copies.memo = None

    dynamodb_models.copy = _CopyOncePerTransaction  # type: ignore[attr-defined]
    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    for name in _ATOMIC_DYNAMODB_OPERATIONS:
        setattr(dynamodb_models.DynamoDBBackend, name, _atomic(getattr(dynamodb_models.DynamoDBBackend, name)))


_ATOMIC_DYNAMODB_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
)
_dynamodb_lock = threading.RLock()  # re-entrant: a transaction calls put_item and update_item


def _atomic(operation: Any) -> Any:
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _dynamodb_lock:
            return operation(*args, **kwargs)

    return atomic


def moto_server(host: str, port: int) -> ThreadedMotoServer:
    """A ThreadedMotoServer (to be started) without those three costs."""
    _speed_up_moto()
    return ThreadedMotoServer(ip_address=host, port=port, verbose=False)

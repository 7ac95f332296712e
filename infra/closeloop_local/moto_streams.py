"""Table streams in moto that survive a cancelled transaction, as DynamoDB's do.

To roll a cancelled TransactWriteItems back, moto puts back a deep copy of every table it
touched, taken when the transaction began, stream shard included. Shard iterators name the shard
object itself, so every reader that holds one (the runtime's stream pollers follow
NextShardIterator) goes on reading the old shard, which never receives another record: after one
cancelled transaction on Responses (a response written twice at the same moment), the counters and
response_flow would see nothing more. Here the shard readers hold stays the table's: after a
rollback it is kept, cut back to the records it had when the transaction began (a cancelled
transaction streams nothing), and given to the table put back. Nothing else moto answers changes.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_applied = False


def streams_survive_rollbacks() -> None:
    """Patch moto's TransactWriteItems (idempotent, process-wide)."""
    global _applied
    if _applied:
        return
    _applied = True
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        live = dict(self.tables)
        try:
            return original(self, transact_items)
        finally:
            for name, table in live.items():
                restored = self.tables.get(name)
                shard, copied = getattr(table, "stream_shard", None), getattr(restored, "stream_shard", None)
                if restored is None or restored is table or shard is None or copied is None:
                    continue
                del shard.items[len(copied.items) :]
                shard.table = restored
                restored.stream_shard = shard

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

"""Counters kept from the streams, each stream record applied exactly once (docs/data-model.md 9.3).

The `counters` function reads the Responses and Invitations streams (later issues add the other
tables of 8.1). Each record's delta is `contribution(new image) - contribution(old image)`
(closeloop.rules.nps_counters for responses, closeloop.rules.mail_counters for invitations);
records are packed in order into transactions of at most 100 actions: a marker Put per record
(`applied#counters#<eventID>`, `attribute_not_exists`, 3-day TTL) and one ADD Update per counter
item touched, the deltas of the group's records summed per item. A marker that already exists means
its record was applied before (a retry, a bisected half): the record is dropped and the group
written again without it. A transaction conflict is retried with jitter; after the last try that
group and every record after it are reported failed, and the stream hands them over again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from pynamodb.exceptions import TransactWriteError

from closeloop import clock
from closeloop.models import Stat
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.rules import mail_counters, nps_counters
from closeloop.rules.nps_counters import STATS, Counts, Target, add_counts
from closeloop.settings import get_settings

CONSUMER = "counters"
MAX_ACTIONS = 100
ATTEMPTS = 5
MARKER_LIFE = timedelta(days=3)
CONDITION_FAILED = "ConditionalCheckFailed"


class CountersBusy(Exception):
    """This record's group could not be written (conflicts, or an earlier group failed): retry it."""


class UnknownSource(Exception):
    """A record from a table whose counters this function does not keep."""


@dataclass(frozen=True)
class CountedRecord:
    event_id: str
    counts: Counts


def source_table(record: DynamoDBRecord) -> str:
    """The table a stream record comes from (`arn:...:table/<name>/stream/<label>`)."""
    arn = record.event_source_arn or ""
    _, _, rest = arn.partition(":table/")
    return rest.split("/stream/")[0]


def record_counts(record: DynamoDBRecord) -> Counts:
    """What one stream record moves on the counters."""
    table = source_table(record)
    settings = get_settings()
    rules = {settings.responses_table: nps_counters.delta, settings.invitations_table: mail_counters.delta}
    delta = rules.get(table) if table else None
    if delta is None:
        raise UnknownSource(f"no counters are kept for the stream of {table or 'an unknown table'}")
    images = record.dynamodb
    return delta(images.new_image if images else None, images.old_image if images else None)


def _number(value: Decimal) -> dict[str, str]:
    """A DynamoDB number in plain notation, without trailing zeros (1.0000 is "1")."""
    return {"N": format(value.normalize(), "f") if value else "0"}


def _add_request(target: Target, values: dict[str, Decimal]) -> dict[str, Any]:
    """One ADD Update of a transaction, on a Stats item or a wave (which must exist)."""
    names = {f"#a{n}": name for n, name in enumerate(sorted(values))}
    request: dict[str, Any] = {
        "UpdateExpression": "ADD " + ", ".join(f"#a{n} :a{n}" for n in range(len(names))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {f":a{n}": _number(values[name]) for n, name in enumerate(sorted(values))},
    }
    settings = get_settings()
    if target.table == STATS:
        request["TableName"] = settings.stats_table
        request["Key"] = {"scope": {"S": target.key}, "metric": {"S": target.metric}}
    else:
        request["TableName"] = settings.waves_table
        request["Key"] = {"wave_id": {"S": target.key}}
        request["ConditionExpression"] = "attribute_exists(wave_id)"
    return request


def _marker_request(event_id: str, now: datetime) -> dict[str, Any]:
    marker = Stat(f"applied#{CONSUMER}#{event_id}", "applied", expires_at=now + MARKER_LIFE)
    request: dict[str, Any] = marker.get_save_kwargs_from_instance(condition=Stat.scope.does_not_exist())
    return request


def groups_of(records: Sequence[CountedRecord]) -> list[list[CountedRecord]]:
    """Records in order, packed so that each group's markers and items fit one transaction."""
    groups: list[list[CountedRecord]] = []
    targets: set[Target] = set()
    for record in records:
        touched = targets | set(record.counts)
        if groups and len(groups[-1]) + 1 + len(touched) <= MAX_ACTIONS:
            groups[-1].append(record)
            targets = touched
        else:
            groups.append([record])
            targets = set(record.counts)
    return groups


class Applier:
    """Writes groups of records; remembers waves found missing so that they are not asked again."""

    def __init__(self, sleep: Callable[[float], None] | None = None) -> None:
        self.sleep = sleep or time.sleep
        self.missing_waves: set[Target] = set()
        self.applied = 0
        self.applied_before = 0

    def apply_group(self, group: Sequence[CountedRecord]) -> bool:
        """Write one group: True once written (records applied before left out), False when
        conflicts kept cancelling it."""
        pending = list(group)
        tries = 0
        connection = Stat._get_connection().connection
        while pending:
            now = clock.now()
            summed: Counts = {}
            for record in pending:
                add_counts(summed, record.counts)
            targets = [target for target in sorted(summed) if target not in self.missing_waves]
            puts = [_marker_request(record.event_id, now) for record in pending]
            updates = [_add_request(target, summed[target]) for target in targets]
            try:
                connection.transact_write_items(
                    condition_check_items=[], delete_items=[], put_items=puts, update_items=updates
                )
            except TransactWriteError as error:
                reasons = error.cancellation_reasons
                if not reasons:
                    raise
                refused = [n for n, reason in enumerate(reasons) if reason and reason.code == CONDITION_FAILED]
                if refused:
                    before = {pending[n].event_id for n in refused if n < len(pending)}
                    missing = {targets[n - len(pending)] for n in refused if n >= len(pending)}
                    if missing:
                        logger.error(
                            "wave of a response or an invitation not found: its counts are not kept",
                            extra={"wave_ids": sorted(target.key for target in missing)},
                        )
                        self.missing_waves |= missing
                    self.applied_before += len(before)
                    pending = [record for record in pending if record.event_id not in before]
                    continue
                tries += 1
                metrics.add_metric(name="transaction_conflicts", unit=MetricUnit.Count, value=1)
                if tries >= ATTEMPTS:
                    codes = sorted({reason.code for reason in reasons if reason})
                    logger.warning("counters cancelled, the stream will retry", extra={"tries": tries, "codes": codes})
                    return False
                self.sleep(random.uniform(0, 0.05 * 2**tries))  # noqa: S311 - jitter, not a secret
            else:
                self.applied += len(pending)
                return True
        return True


def apply_records(records: Sequence[CountedRecord], *, sleep: Callable[[float], None] | None = None) -> set[str]:
    """Apply the records' counts exactly once; the event ids that must be retried (the group that
    gave up and every record after it)."""
    applier = Applier(sleep)
    seen: set[str] = set()
    counted = []
    for record in records:  # a record twice in one batch would be two markers of one item
        if record.counts and record.event_id not in seen:
            seen.add(record.event_id)
            counted.append(record)
    failed: set[str] = set()
    for group in groups_of(counted):
        if failed or not applier.apply_group(group):
            failed |= {record.event_id for record in group}
    if applier.applied:
        metrics.add_metric(name="counter_records_applied", unit=MetricUnit.Count, value=applier.applied)
    if applier.applied_before:
        logger.info("records applied before: left out", extra={"records": applier.applied_before})
    return failed


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def event_id_of(record: DynamoDBRecord) -> str:
    return str(record.event_id or (record.dynamodb.sequence_number if record.dynamodb else ""))


def process_counters_stream(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The counters handler: the batch applied in groups, then every record from the first one not
    applied onwards reported to the stream (Powertools' partial batch response)."""
    records = [DynamoDBRecord(item) for item in event.get("Records") or []]
    if not records:
        return {"batchItemFailures": []}
    counted: list[CountedRecord] = []
    failed: set[str] = set()
    for record in records:
        try:
            counted.append(CountedRecord(event_id_of(record), record_counts(record)))
        except UnknownSource as error:
            logger.error("stream record not counted", extra={"event_id": event_id_of(record), "error": str(error)})
            failed.add(event_id_of(record))
            break  # this record and those after it go back to the stream (then to the DLQ)
    failed |= apply_records(counted)
    ids = [event_id_of(record) for record in records]
    first = next((n for n, event_id in enumerate(ids) if event_id in failed), len(ids))
    retried = set(ids[first:])

    def check(record: DynamoDBRecord) -> None:
        if event_id_of(record) in retried:
            raise CountersBusy(f"record {event_id_of(record)} not applied yet")

    return process_partial_response(event=event, record_handler=check, processor=_processor, context=context)

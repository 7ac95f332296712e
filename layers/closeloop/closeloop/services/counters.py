"""Counters kept from the streams, each stream record applied exactly once (docs/data-model.md 9.3).

The `counters` function reads the Responses, Invitations and Cases streams (later issues add the
other tables of 8.1). Each record's delta is `contribution(new image) - contribution(old image)`
(closeloop.rules.nps_counters for responses, closeloop.rules.mail_counters for invitations,
closeloop.rules.case_counters for cases); records are packed in order into transactions of at most
100 actions: a marker Put per record (`applied#counters#<eventID>`, `attribute_not_exists`, 3-day
TTL) and one ADD Update per counter item touched (Stats items, waves, and for cases the assignees'
Staff `open_cases`), the deltas of the group's records summed per item. A marker that already
exists means its record was applied before (a retry, a bisected half): the record is dropped and
the group written again without it. A transaction conflict is retried with jitter; after the last
try that group and every record after it are reported failed, and the stream hands them over
again. A record that touches more items than one transaction holds (a case whose scopes or tags all
change at once) is applied in parts, each with its own marker (`<eventID>#<n>`), so each part still
counts once. Each Cases record applied also gives its CloudWatch metrics (`cases_opened`,
`first_exchange_delay_bh` by category, closeloop.services.case_metrics), once.
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
from closeloop.rules import case_counters, mail_counters, nps_counters
from closeloop.rules.case_counters import STAFF
from closeloop.rules.nps_counters import STATS, WAVE, Counts, Target, add_counts
from closeloop.services.case_metrics import publish_observations
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
    event_id: str  # the marker's id: the stream record's, or "<eventID>#<n>" for a part of it
    counts: Counts
    observations: tuple[tuple[str, str, Decimal], ...] = ()  # CloudWatch metrics once applied (cases)


def source_table(record: DynamoDBRecord) -> str:
    """The table a stream record comes from (`arn:...:table/<name>/stream/<label>`)."""
    arn = record.event_source_arn or ""
    _, _, rest = arn.partition(":table/")
    return rest.split("/stream/")[0]


def record_counts(record: DynamoDBRecord) -> Counts:
    """What one stream record moves on the counters."""
    table = source_table(record)
    settings = get_settings()
    rules = {
        settings.responses_table: nps_counters.delta,
        settings.invitations_table: mail_counters.delta,
        settings.cases_table: case_counters.delta,
    }
    delta = rules.get(table) if table else None
    if delta is None:
        raise UnknownSource(f"no counters are kept for the stream of {table or 'an unknown table'}")
    images = record.dynamodb
    return delta(images.new_image if images else None, images.old_image if images else None)


def record_observations(record: DynamoDBRecord) -> tuple[tuple[str, str, Decimal], ...]:
    """The CloudWatch metrics one record gives once applied (Cases records only)."""
    if source_table(record) != get_settings().cases_table:
        return ()
    images = record.dynamodb
    return tuple(case_counters.observations(images.new_image if images else None, images.old_image if images else None))


def counted_parts(
    event_id: str, counts: Counts, observations: tuple[tuple[str, str, Decimal], ...] = ()
) -> list[CountedRecord]:
    """A record as the parts that are applied: itself, or when it touches more items than one
    transaction holds with its marker, parts of MAX_ACTIONS - 1 items (in sorted order, so that a
    record handed over again splits the same way), each with its own marker `<eventID>#<n>`."""
    if len(counts) < MAX_ACTIONS:
        return [CountedRecord(event_id, counts, observations)]
    targets = sorted(counts)
    size = MAX_ACTIONS - 1
    return [
        CountedRecord(
            f"{event_id}#{n}",
            {target: counts[target] for target in targets[begin : begin + size]},
            observations if n == 1 else (),
        )
        for n, begin in enumerate(range(0, len(targets), size), start=1)
    ]


def _number(value: Decimal) -> dict[str, str]:
    """A DynamoDB number in plain notation, without trailing zeros (1.0000 is "1")."""
    return {"N": format(value.normalize(), "f") if value else "0"}


def _add_request(target: Target, values: dict[str, Decimal]) -> dict[str, Any]:
    """One ADD Update of a transaction, on a Stats item, a wave or a staff member (which must exist)."""
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
    elif target.table == STAFF:
        request["TableName"] = settings.staff_table
        request["Key"] = {"staff_id": {"S": target.key}}
        request["ConditionExpression"] = "attribute_exists(staff_id)"
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
    """Writes groups of records; remembers waves and staff members found missing so that they are
    not asked again."""

    def __init__(self, sleep: Callable[[float], None] | None = None) -> None:
        self.sleep = sleep or time.sleep
        self.missing: set[Target] = set()
        self.applied = 0
        self.applied_before = 0
        self.observations: list[tuple[str, str, Decimal]] = []

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
            targets = [target for target in sorted(summed) if target not in self.missing]
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
                        waves = sorted(target.key for target in missing if target.table == WAVE)
                        staff = sorted(target.key for target in missing if target.table == STAFF)
                        logger.error(
                            "wave or staff member of a record not found: its counts there are not kept",
                            extra={"wave_ids": waves, "staff_ids": staff},
                        )
                        self.missing |= missing
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
                self.observations += [seen for record in pending for seen in record.observations]
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
    if applier.observations:
        publish_observations(applier.observations)
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
    record_of: dict[str, str] = {}  # a part's marker id -> its record's event id
    failed: set[str] = set()
    for record in records:
        try:
            parts = counted_parts(event_id_of(record), record_counts(record), record_observations(record))
        except UnknownSource as error:
            logger.error("stream record not counted", extra={"event_id": event_id_of(record), "error": str(error)})
            failed.add(event_id_of(record))
            break  # this record and those after it go back to the stream (then to the DLQ)
        for part in parts:
            record_of.setdefault(part.event_id, event_id_of(record))
        counted += parts
    failed |= {record_of.get(event_id, event_id) for event_id in apply_records(counted)}
    ids = [event_id_of(record) for record in records]
    first = next((n for n, event_id in enumerate(ids) if event_id in failed), len(ids))
    retried = set(ids[first:])

    def check(record: DynamoDBRecord) -> None:
        if event_id_of(record) in retried:
            raise CountersBusy(f"record {event_id_of(record)} not applied yet")

    return process_partial_response(event=event, record_handler=check, processor=_processor, context=context)

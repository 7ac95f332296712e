"""Domain events on the bus (docs/data-model.md 8.2), as every stream flow publishes them.

A flow turns its stream records into `DomainEvent`s and hands them here: PutEvents by ten,
entries that EventBridge refuses sent again after a pause; the stream event ids of the records
whose events still could not be published come back, for the flow to report them failed so that
the stream hands them over again. Publication is at least once: a retried batch may publish an
event twice, with the same `event_id` for subscribers to drop the second.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import BotoCoreError, ClientError

from closeloop import aws, clock
from closeloop.observability import CORRELATION_ATTRIBUTE, MetricUnit, correlation_id, logger, metrics
from closeloop.rules.response_events import DomainEvent
from closeloop.services.counters import event_id_of
from closeloop.settings import get_settings

SOURCE = "closeloop"
PUT_EVENTS_MAX = 10
ATTEMPTS = 4


class EventsNotPublished(Exception):
    """EventBridge kept refusing this record's event: the stream retries it."""


@dataclass(frozen=True)
class Pending:
    event_id: str  # the stream record's
    event: DomainEvent


def occurred_at(record: DynamoDBRecord) -> str:
    """When the item changed: its own `updated_at`, else the stream's approximate time."""
    images = record.dynamodb
    new = images.new_image if images else {}
    stamp = new.get("updated_at") or new.get("created_at")
    if isinstance(stamp, str) and stamp:
        try:
            return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()
        except ValueError:
            pass
    approximate = images.approximate_creation_date_time if images else None
    return (datetime.fromtimestamp(approximate, UTC) if approximate else clock.now()).isoformat()


def _entry(event: DomainEvent) -> dict[str, Any]:
    detail = dict(event.detail)
    found = correlation_id()
    if found:
        detail[CORRELATION_ATTRIBUTE] = found
    return {
        "Source": SOURCE,
        "DetailType": event.name,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": get_settings().event_bus_name,
        "Time": datetime.fromisoformat(str(event.detail["occurred_at"])),
    }


def publish(pending: Sequence[Pending], *, sleep: Callable[[float], None] | None = None) -> set[str]:
    """PutEvents by ten, refused entries tried again; the stream event ids of the events that
    could not be published."""
    pause = sleep or time.sleep
    events = aws.client("events")
    left = list(pending)
    for attempt in range(1, ATTEMPTS + 1):
        refused: list[Pending] = []
        for start in range(0, len(left), PUT_EVENTS_MAX):
            chunk = left[start : start + PUT_EVENTS_MAX]
            try:
                answer = events.put_events(Entries=[_entry(item.event) for item in chunk])
            except (ClientError, BotoCoreError) as error:
                logger.warning("PutEvents failed", extra={"error": type(error).__name__, "entries": len(chunk)})
                refused += chunk
                continue
            results = answer.get("Entries") or []
            chunk_refused = [item for n, item in enumerate(chunk) if n >= len(results) or results[n].get("ErrorCode")]
            refused += chunk_refused
            if len(chunk) > len(chunk_refused):
                metrics.add_metric(
                    name="domain_events_published", unit=MetricUnit.Count, value=len(chunk) - len(chunk_refused)
                )
        if not refused:
            return set()
        left = refused
        if attempt < ATTEMPTS:
            pause(random.uniform(0, 0.1 * 2**attempt))  # noqa: S311 - jitter, not a secret
    logger.warning("domain events not published, the stream will retry", extra={"events": len(left)})
    return {item.event_id for item in left}


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def publish_stream_events(
    event: dict[str, Any], context: Any, events_of: Callable[[DynamoDBRecord], list[DomainEvent]]
) -> PartialItemFailureResponse:
    """A flow's handler: the events of the batch's records published together, the records whose
    events could not be published reported to the stream (ReportBatchItemFailures)."""
    records = [DynamoDBRecord(item) for item in event.get("Records") or []]
    if not records:
        return {"batchItemFailures": []}
    pending = [Pending(event_id_of(record), found) for record in records for found in events_of(record)]
    failed = publish(pending) if pending else set()

    def check(record: DynamoDBRecord) -> None:
        if event_id_of(record) in failed:
            raise EventsNotPublished(f"record {event_id_of(record)}: event not published")

    return process_partial_response(event=event, record_handler=check, processor=_processor, context=context)

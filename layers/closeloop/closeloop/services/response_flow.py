"""What follows a response, outside the counters (docs/data-model.md 8.1, 8.2): its callback case
opened, moved or mirrored (closeloop.services.case_opening), and its domain events on the bus.

Driven by the Responses stream (functions/response_flow). Each record gives at most one event
(closeloop.rules.response_events), published for the whole batch through
closeloop.services.domain_events; then each record's case is brought up to date (the caller pool
read once for the batch). A record whose
case could not be written, or whose event could not be published, is reported failed so that the
stream hands it over again: both steps are idempotent (the event keeps its `event_id`, the case
its conditions).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop.rules.response_events import DomainEvent, response_events
from closeloop.services.assignment import one_pool_read
from closeloop.services.case_opening import follow_response
from closeloop.services.counters import event_id_of
from closeloop.services.domain_events import ATTEMPTS, EventsNotPublished, Pending, occurred_at, publish

__all__ = ["ATTEMPTS", "events_of", "follow_record", "process_response_flow", "publish"]


def _images(record: DynamoDBRecord) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    images = record.dynamodb
    name = record.event_name.name if record.event_name else ""
    return name, images.new_image if images else None, images.old_image if images else None


def events_of(record: DynamoDBRecord) -> list[DomainEvent]:
    name, new, old = _images(record)
    return response_events(event_id_of(record), name, new, old, occurred_at(record))


def follow_record(record: DynamoDBRecord) -> str:
    """The record's case opened, moved or mirrored (what was done, for logs and tests)."""
    return follow_response(*_images(record))


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def process_response_flow(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The response_flow handler: the batch's events published together, then each record's case;
    records with a step left undone reported to the stream."""
    records = [DynamoDBRecord(item) for item in event.get("Records") or []]
    if not records:
        return {"batchItemFailures": []}
    pending = [Pending(event_id_of(record), found) for record in records for found in events_of(record)]
    failed = publish(pending) if pending else set()

    def handle(record: DynamoDBRecord) -> None:
        follow_record(record)
        if event_id_of(record) in failed:
            raise EventsNotPublished(f"record {event_id_of(record)}: event not published")

    with one_pool_read():
        return process_partial_response(event=event, record_handler=handle, processor=_processor, context=context)

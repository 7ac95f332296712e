"""What follows a response, outside the counters: its domain events on the bus (docs/data-model.md
8.1, 8.2). Opening the callback case joins this consumer with the callbacks issue.

Driven by the Responses stream (functions/response_flow). Each record gives at most one event
(closeloop.rules.response_events), published through closeloop.services.domain_events; a record
whose event could not be published is reported failed so that the stream hands it over again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop.rules.response_events import DomainEvent, response_events
from closeloop.services.counters import event_id_of
from closeloop.services.domain_events import ATTEMPTS, occurred_at, publish, publish_stream_events

__all__ = ["ATTEMPTS", "events_of", "process_response_flow", "publish"]


def events_of(record: DynamoDBRecord) -> list[DomainEvent]:
    images = record.dynamodb
    name = record.event_name.name if record.event_name else ""
    return response_events(
        event_id_of(record),
        name,
        images.new_image if images else None,
        images.old_image if images else None,
        occurred_at(record),
    )


def process_response_flow(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The response_flow handler: the batch's events published together, records whose event
    could not be published reported to the stream."""
    return publish_stream_events(event, context, events_of)

"""What follows a customer's mail: `CustomerReplied` on the bus (docs/data-model.md 8.1, 8.2). The
reply notice to the assignee joins this consumer with the callbacks issue.

Driven by the Messages stream (functions/message_flow), filtered by its mapping to the INSERT of
an incoming reply; the same check is made here, so a record the filter let through by mistake
publishes nothing. Ids and flags only: never a subject, a body or an address.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop.rules.response_events import DomainEvent
from closeloop.services.counters import event_id_of
from closeloop.services.domain_events import occurred_at, publish_stream_events

CUSTOMER_REPLIED = "CustomerReplied"
SCHEMA = 1


def events_of(record: DynamoDBRecord) -> list[DomainEvent]:
    """CustomerReplied for the INSERT of an incoming reply; nothing for any other record."""
    images = record.dynamodb
    new = images.new_image if images else None
    name = record.event_name.name if record.event_name else ""
    if name != "INSERT" or not new or new.get("direction") != "in" or new.get("kind") != "reply":
        return []
    thread_id = new.get("thread_id")
    detail = {
        "event_id": f"{event_id_of(record)}:{CUSTOMER_REPLIED}",
        "occurred_at": occurred_at(record),
        "schema": SCHEMA,
        "message_id": new.get("message_id"),
        "thread_id": thread_id,
        "case_id": None,  # the callbacks issue: the case of the thread, when one exists
        "invitation_id": thread_id,
        "flags": sorted(new.get("flags") or []),
    }
    return [DomainEvent(CUSTOMER_REPLIED, detail)]


def process_message_flow(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The message_flow handler: the batch's events published together, records whose event could
    not be published reported to the stream."""
    return publish_stream_events(event, context, events_of)

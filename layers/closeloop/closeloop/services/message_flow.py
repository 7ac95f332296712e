"""What follows a customer's mail (docs/data-model.md 8.1, 8.2): `CustomerReplied` on the bus and
the reply notice (a `notify_reply` mail job) to the case's assignee, or to the managers when the
case has no assignee; `FallbackSent` when a case's fallback email is recorded sent.

Driven by the Messages stream (functions/message_flow), filtered by its mapping to the INSERT of
an incoming reply and the MODIFY of a fallback item to `sent`; the same checks are made here, so
a record the filter let through by mistake publishes and enqueues nothing. Ids and flags only:
never a subject, a body or an address. The notice's ledger key comes from the reply's time, so a
retried record sends it once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop.models import Case
from closeloop.rules.case_events import MANAGERS, NOTIFY_REPLY, MailJob, stored_time
from closeloop.rules.response_events import DomainEvent
from closeloop.services.counters import event_id_of
from closeloop.services.domain_events import Pending, occurred_at, publish
from closeloop.services.mail_jobs import enqueue

CUSTOMER_REPLIED = "CustomerReplied"
FALLBACK_SENT = "FallbackSent"
SCHEMA = 1


class MessageFlowFailed(Exception):
    """A record's notice or event did not get through: the stream retries it."""


def _reply(record: DynamoDBRecord) -> dict[str, Any] | None:
    images = record.dynamodb
    new = images.new_image if images else None
    name = record.event_name.name if record.event_name else ""
    if name != "INSERT" or not new or new.get("direction") != "in" or new.get("kind") != "reply":
        return None
    return dict(new)


def _fallback_sent(record: DynamoDBRecord) -> dict[str, Any] | None:
    """The new image of a fallback ledger item that has just become `sent`."""
    images = record.dynamodb
    new = images.new_image if images else None
    old = (images.old_image if images else None) or {}
    name = record.event_name.name if record.event_name else ""
    if name != "MODIFY" or not new or new.get("direction") != "out" or new.get("kind") != "fallback":
        return None
    return dict(new) if new.get("state") == "sent" and old.get("state") != "sent" else None


def fallback_events_of(record: DynamoDBRecord, case: Case | None) -> list[DomainEvent]:
    """FallbackSent when a case's fallback email is recorded sent (data-model 8.2)."""
    new = _fallback_sent(record)
    if new is None:
        return []
    detail = {
        "event_id": f"{event_id_of(record)}:{FALLBACK_SENT}",
        "occurred_at": occurred_at(record),
        "schema": SCHEMA,
        "case_id": new.get("thread_id"),
        "category": case.category if case is not None else None,
    }
    return [DomainEvent(FALLBACK_SENT, detail)]


def _case(thread_id: Any) -> Case | None:
    if not isinstance(thread_id, str) or not thread_id:
        return None
    try:
        return Case.get(thread_id, consistent_read=True, attributes_to_get=["case_id", "assignee_id", "category"])
    except Case.DoesNotExist:
        return None


def jobs_of(record: DynamoDBRecord, case: Case | None) -> list[MailJob]:
    """The reply notice of an incoming reply on a case: to the assignee, else to the managers. A
    reply with no case (an invitation's thread) waits in the replies needing a person
    (Messages.by_attention, served by the cases API) rather than in anyone's mailbox."""
    new = _reply(record)
    if new is None or case is None:
        return []
    thread_id = str(new.get("thread_id"))
    at = new.get("at") or occurred_at(record)
    to = str(case.assignee_id) if case.assignee_id else MANAGERS
    return [MailJob(NOTIFY_REPLY, thread_id, stored_time(str(at)), to)]


def events_of(record: DynamoDBRecord, case: Case | None = None) -> list[DomainEvent]:
    """CustomerReplied for the INSERT of an incoming reply; nothing for any other record."""
    new = _reply(record)
    if new is None:
        return []
    thread_id = new.get("thread_id")
    detail = {
        "event_id": f"{event_id_of(record)}:{CUSTOMER_REPLIED}",
        "occurred_at": occurred_at(record),
        "schema": SCHEMA,
        "message_id": new.get("message_id"),
        "thread_id": thread_id,
        "case_id": str(case.case_id) if case is not None else None,
        "invitation_id": thread_id,
        "flags": sorted(new.get("flags") or []),
    }
    return [DomainEvent(CUSTOMER_REPLIED, detail)]


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def process_message_flow(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The message_flow handler: the batch's notices enqueued and events published together,
    records whose notice or event did not get through reported to the stream."""
    records = [DynamoDBRecord(item) for item in event.get("Records") or []]
    if not records:
        return {"batchItemFailures": []}
    jobs: list[tuple[str, MailJob]] = []
    pending: list[Pending] = []
    for record in records:
        found = _reply(record) or _fallback_sent(record)
        if found is None:
            continue
        case = _case(found.get("thread_id"))
        jobs += [(event_id_of(record), job) for job in jobs_of(record, case)]
        events = events_of(record, case) + fallback_events_of(record, case)
        pending += [Pending(event_id_of(record), event) for event in events]
    failed: set[str] = set()
    if jobs:
        refused = enqueue([job for _, job in jobs])
        failed |= {record_id for record_id, job in jobs if job in refused}
    if pending:
        failed |= publish(pending)

    def check(record: DynamoDBRecord) -> None:
        if event_id_of(record) in failed:
            raise MessageFlowFailed(f"record {event_id_of(record)}: notice or event not sent")

    return process_partial_response(event=event, record_handler=check, processor=_processor, context=context)

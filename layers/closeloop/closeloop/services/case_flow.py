"""What follows a change of a case (docs/data-model.md 8.1, 8.2; docs/callbacks.md): the emails it
makes due, on the mail queue, and its domain events, on the bus.

Driven by the Cases stream (functions/case_flow). closeloop.rules.case_events reads each record;
its jobs are enqueued (SendMessageBatch) and its events published (closeloop.services.domain_events)
for the whole batch at once. A record whose jobs or events did not get through is reported failed
and the stream hands it over again: jobs and events may then be repeated, which the mailer's
ledger (one email per key) and the events' `event_id` make harmless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop.observability import MetricUnit, logger, metrics
from closeloop.rules.case_events import MailJob, case_changes
from closeloop.rules.response_events import DomainEvent
from closeloop.services.counters import event_id_of
from closeloop.services.domain_events import Pending, occurred_at, publish
from closeloop.services.mail_jobs import enqueue
from closeloop.settings import get_settings


class CaseFlowFailed(Exception):
    """A record's jobs or events did not get through: the stream retries it."""


def changes_of(record: DynamoDBRecord) -> tuple[list[MailJob], list[DomainEvent]]:
    images = record.dynamodb
    name = record.event_name.name if record.event_name else ""
    return case_changes(
        event_id_of(record),
        name,
        images.new_image if images else None,
        images.old_image if images else None,
        occurred_at(record),
        fallback_after=get_settings().fallback_after_failed_attempts,
    )


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def process_case_flow(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The case_flow handler: the batch's jobs enqueued and events published together, the records
    whose jobs or events did not get through reported to the stream."""
    records = [DynamoDBRecord(item) for item in event.get("Records") or []]
    if not records:
        return {"batchItemFailures": []}
    jobs: list[tuple[str, MailJob]] = []
    pending: list[Pending] = []
    for record in records:
        found_jobs, found_events = changes_of(record)
        jobs += [(event_id_of(record), job) for job in found_jobs]
        pending += [Pending(event_id_of(record), found) for found in found_events]

    failed: set[str] = set()
    if jobs:
        refused = enqueue([job for _, job in jobs])
        failed |= {record_id for record_id, job in jobs if job in refused}
        queued = len(jobs) - len(refused)
        if queued:
            metrics.add_metric(name="case_mail_jobs", unit=MetricUnit.Count, value=queued)
        for _, job in jobs:
            logger.info("mail job enqueued", extra={"kind": job.kind, "case_id": job.thread_id, "step": job.step})
    if pending:
        failed |= publish(pending)

    def check(record: DynamoDBRecord) -> None:
        if event_id_of(record) in failed:
            raise CaseFlowFailed(f"record {event_id_of(record)}: jobs or events not sent")

    return process_partial_response(event=event, record_handler=check, processor=_processor, context=context)

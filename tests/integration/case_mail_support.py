"""Helpers of the case mail and SLA timer tests: staff, contacts and cases as the other parts leave
them, the mail queue read as the mailer's mapping would, the mailer invoked, the Cases stream fed
to case_flow, and the emails moto's SES accepted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import boto3

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Case, Contact, Staff, invitation_id_for
from closeloop.models.staff import pool_of
from closeloop.rules.case_events import MailJob
from closeloop.rules.sla import business_calendar, sla_for, timer_shard
from closeloop.secrets import email_hash
from closeloop.services.mail_jobs import to_body
from closeloop.settings import get_settings
from tests.integration.dispatch import REGION, sent_messages
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_event, load_handler

mailer_handler = load_handler("mailer")
case_flow_handler = load_handler("case_flow")
sweeper_handler = load_handler("sla_sweeper")

REF_HEADER = "X-Closeloop-Ref"


def add_staff(email: str, *, name: str, groups: set[str], language: str = "fr", active: bool = True) -> Staff:
    staff = Staff(
        new_id(),
        email=email,
        name=name,
        groups=groups,
        language=language,
        active=active,
        pool=pool_of(frozenset(groups), active),
    )
    staff.save()
    return staff


def add_contact(address: str, *, language: str = "fr", first_name: str = "Anne") -> Contact:
    contact = Contact(
        new_id(),
        email=address,
        email_hash=email_hash(address),
        first_name=first_name,
        last_name="Lefebvre",
        company="Pharmacie du Centre",
        language=language,
        segment="pharmacy",
    )
    contact.save()
    return contact


def open_case(
    contact: Contact,
    assignee: Staff | None,
    *,
    category: str = "detractor",
    score: int = 3,
    responded_at: datetime | None = None,
    has_phone: bool = True,
) -> Case:
    """A case as response_flow opens it (data-model 4.15), its first SLA step pending."""
    responded = responded_at or clock.now()
    sla = sla_for(category, responded, business_calendar(get_settings()), get_settings())
    step, step_at = sla.first_timer()
    case_id = invitation_id_for(new_id(), contact.contact_id)
    case = Case(
        case_id,
        contact_id=contact.contact_id,
        wave_id=new_id(),
        segment="pharmacy",
        language=contact.language,
        score=score,
        category=category,
        confirmed=True,
        responded_at=responded,
        opened_at=responded,
        due_at=sla.due_at,
        queue_due_at=sla.due_at,
        script=f"{category}.{contact.language}",
        assignee_id=assignee.staff_id if assignee else None,
        assigned_at=responded if assignee else None,
        assignment="owner" if assignee else None,
        status="open",
        has_phone=has_phone,
        timer_shard=timer_shard(case_id),
        next_timer_at=step_at,
        next_timer_step=step,
    )
    case.save()
    return case


def sqs_event(*bodies: str) -> dict[str, Any]:
    sample = load_event("sqs/send-batch.json")["Records"][0]
    return {"Records": [{**sample, "messageId": f"message-{n}", "body": text} for n, text in enumerate(bodies)]}


def deliver(*jobs: MailJob) -> dict[str, Any]:
    """The mail queue's mapping invoking the mailer with these jobs."""
    answer: dict[str, Any] = mailer_handler(sqs_event(*(to_body(job) for job in jobs)), LambdaContext())
    return answer


def queued() -> list[dict[str, Any]]:
    """Jobs waiting on the mail queue (received and deleted, as the mailer's mapping would)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = get_settings().mail_queue_url
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def deliver_queued() -> dict[str, Any]:
    """Everything on the mail queue handed to the mailer (ten at a time)."""
    jobs = queued()
    failures: list[Any] = []
    for start in range(0, len(jobs), 10):
        answer = mailer_handler(sqs_event(*(json.dumps(job) for job in jobs[start : start + 10])), LambdaContext())
        failures += answer["batchItemFailures"]
    return {"batchItemFailures": failures, "jobs": jobs}


class CasesStream(TableStream):
    """The Cases stream, fed to case_flow as Lambda would."""

    def __init__(self, *, from_start: bool = True) -> None:
        super().__init__(get_settings().cases_table, from_start=from_start)

    def apply(self) -> dict[str, Any]:
        records = self.read()
        if not records:
            return {"batchItemFailures": []}
        answer: dict[str, Any] = case_flow_handler({"Records": records}, LambdaContext())
        return answer


def emails_of(case_id: str) -> list[EmailMessage]:
    """Emails SES accepted about one case (by their reference header), oldest first."""
    return [message for message in sent_messages() if str(message[REF_HEADER] or "").startswith(f"msg:{case_id}:")]


def days(n: float) -> timedelta:
    return timedelta(days=n)

"""The mail queue's messages (docs/callbacks.md "Case and staff emails"): one job per email to send,
as JSON, enqueued by the flows (case_flow, message_flow) and taken by the mailer.

A job names what to send and why, never the text: `{"kind": "fallback", "thread_id": "<case id>",
"trigger_at": "<time of the change that made it due>", "to": "customer" | "managers" | "<staff id>",
"step": "escalate#2" | null}`. The mailer reads the case when it sends, and its ledger key comes
from the job alone (closeloop.rules.case_events.MailJob.message_key), so a job enqueued twice
sends once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from closeloop import aws
from closeloop.errors import InvalidInput
from closeloop.observability import sqs_attributes
from closeloop.rules.case_events import MailJob, stored_time
from closeloop.rules.sla import escalation_number
from closeloop.settings import get_settings

SEND_MESSAGE_BATCH_MAX = 10


class JobMessage(BaseModel):
    """A mail-queue message body, validated: the fixed interface between the flows and the mailer."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["notify_assigned", "notify_reply", "remind", "escalate", "fallback"]
    thread_id: str = Field(pattern=r"^[a-z2-7]{26}$")
    trigger_at: str = Field(min_length=10, max_length=40)
    to: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    step: str | None = Field(default=None, max_length=20)

    @field_validator("trigger_at")
    @classmethod
    def _time(cls, value: str) -> str:
        try:
            return stored_time(value)
        except ValueError as error:
            raise ValueError("trigger_at is an ISO-8601 time") from error

    @field_validator("step")
    @classmethod
    def _step(cls, value: str | None) -> str | None:
        if value is not None:
            escalation_number(value)  # ValueError for anything but remind / escalate#n
        return value

    def job(self) -> MailJob:
        return MailJob(self.kind, self.thread_id, self.trigger_at, self.to, self.step)


def to_body(job: MailJob) -> str:
    return json.dumps(
        {"kind": job.kind, "thread_id": job.thread_id, "trigger_at": job.trigger_at, "to": job.to, "step": job.step},
        separators=(",", ":"),
    )


def from_body(body: str) -> MailJob:
    """The job a message holds; InvalidInput (with the reasons) for anything else."""
    try:
        return JobMessage.model_validate_json(body).job()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise InvalidInput(f"not a mail job: {problems}") from error


def enqueue(jobs: Sequence[MailJob]) -> list[MailJob]:
    """Send the jobs to the mail queue, ten per SendMessageBatch; the jobs the queue refused."""
    if not jobs:
        return []
    sqs = aws.client("sqs")
    url = get_settings().mail_queue_url
    refused: list[MailJob] = []
    for start in range(0, len(jobs), SEND_MESSAGE_BATCH_MAX):
        chunk = list(jobs[start : start + SEND_MESSAGE_BATCH_MAX])
        entries = [
            {"Id": str(n), "MessageBody": to_body(job), "MessageAttributes": sqs_attributes()}
            for n, job in enumerate(chunk)
        ]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        refused += [chunk[int(failed["Id"])] for failed in answer.get("Failed") or []]
    return refused

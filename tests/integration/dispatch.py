"""Helpers of the sending tests: waves, contacts and invitations as the planner leaves them, an SES
client that counts what it accepts, and the SendBatches stream fed to dispatch_ledger."""

from __future__ import annotations

import email
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from typing import Any

import boto3
from botocore.exceptions import ClientError, ReadTimeoutError
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from closeloop import aws, clock
from closeloop.ids import new_id
from closeloop.models import Contact, Invitation, Wave, invitation_id_for
from closeloop.models.invitation import SendStep
from closeloop.secrets import email_hash
from closeloop.settings import get_settings
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_event, load_handler

REGION = "eu-west-1"
INVITATION_HEADER = "X-Closeloop-Invitation"

sender_handler = load_handler("sender")
ledger_handler = load_handler("dispatch_ledger")


def make_wave(**changes: Any) -> Wave:
    now = clock.now()
    wave = Wave(
        new_id(),
        name="Printemps 2026",
        status="sending",
        starts_at=now,
        reminder_at=now + timedelta(days=7),
        closes_at=now + timedelta(days=21),
        month=now.strftime("%Y-%m"),
    )
    wave.subjects.fr = "Votre avis compte pour nous"
    wave.subjects.en = "Your opinion matters to us"
    wave.intros.fr = "Chère cliente, cher client,\n\nNous aimerions savoir ce que vous pensez de nous."
    wave.intros.en = "We would love to know what you think of us."
    for name, value in changes.items():
        setattr(wave, name, value)
    wave.save()
    return wave


def make_contact(address: str, *, first_name: str = "Anne", language: str = "fr", **changes: Any) -> Contact:
    contact = Contact(
        new_id(),
        email=address,
        email_hash=email_hash(address),
        first_name=first_name,
        last_name="Martin",
        language=language,
        segment="pharmacy",
    )
    for name, value in changes.items():
        setattr(contact, name, value)
    contact.save()
    return contact


def reserve(wave: Wave, contacts: Sequence[Contact], *, step: str = "first") -> tuple[str, list[str]]:
    """Invitations reserved as the planner leaves them: one batch id on their step, never regrouped."""
    batch_id = new_id()
    ids = []
    for contact in contacts:
        invitation = Invitation(
            invitation_id_for(wave.wave_id, contact.contact_id),
            wave_id=wave.wave_id,
            contact_id=contact.contact_id,
            status="reserved" if step == "first" else "sent",
            language=contact.language,
            segment=contact.segment,
            month=wave.month,
        )
        setattr(invitation, step, SendStep(state="reserved", batch_id=batch_id, attempts=0))
        if step == "reminder":
            invitation.first = SendStep(state="sent", batch_id=new_id(), attempts=1)
        invitation.save()
        ids.append(invitation.invitation_id)
    return batch_id, ids


def body(wave: Wave, batch_id: str, ids: Sequence[str], *, step: str = "first", attempt: int = 1) -> str:
    return json.dumps(
        {"batch_id": batch_id, "wave_id": wave.wave_id, "step": step, "invitation_ids": list(ids), "attempt": attempt}
    )


def sqs_event(*bodies: str) -> dict[str, Any]:
    """A send-queue event of the sample's shape, one record per body."""
    sample = load_event("sqs/send-batch.json")["Records"][0]
    return {"Records": [{**sample, "messageId": f"message-{n}", "body": text} for n, text in enumerate(bodies)]}


def deliver(*bodies: str) -> dict[str, Any]:
    """The send queue's event source mapping invoking the sender with these messages."""
    result: dict[str, Any] = sender_handler(sqs_event(*bodies), LambdaContext())
    return result


def parse(raw: bytes | str) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    message = email.message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def sent_messages() -> list[EmailMessage]:
    """Every email moto's SES accepted, oldest first."""
    backend = get_backend("ses")[DEFAULT_ACCOUNT_ID][REGION]
    return [parse(message.raw_data) for message in backend.sent_messages]


def throttled() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": 429},
        },
        "SendEmail",
    )


def rejected() -> ClientError:
    return ClientError(
        {"Error": {"Code": "MessageRejected", "Message": "Email address is not verified."}, "ResponseMetadata": {}},
        "SendEmail",
    )


@dataclass
class Injected:
    """What SES does on one call instead of its job: raise before sending, or send and lose the answer."""

    before: Exception | None = None
    lose_answer: bool = False


class SesSpy:
    """moto's SES v2 client, counting the emails it accepts by their X-Closeloop-Invitation header.

    `inject(call_number, invitation_id)` may return an Injected for a call: an error SES answers
    instead of sending, or an answer lost after SES sent (a read timeout).
    """

    def __init__(self, inject: Callable[[int, str], Injected | None] | None = None) -> None:
        self.real = boto3.client("sesv2", region_name=REGION)
        self.inject = inject or (lambda _n, _i: None)
        self.calls: list[str] = []
        self.accepted: Counter[str] = Counter()
        self.during: Callable[[], None] | None = None

    def send_email(self, **request: Any) -> dict[str, Any]:
        message = parse(request["Content"]["Raw"]["Data"])
        invitation_id = str(message[INVITATION_HEADER])
        self.calls.append(invitation_id)
        injected = self.inject(len(self.calls), invitation_id) or Injected()
        if injected.before is not None:
            raise injected.before
        answer: dict[str, Any] = self.real.send_email(**request)
        self.accepted[invitation_id] += 1
        if self.during is not None:
            during, self.during = self.during, None
            during()
        if injected.lose_answer:
            raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails")
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def spy_ses(inject: Callable[[int, str], Injected | None] | None = None) -> SesSpy:
    spy = SesSpy(inject)
    aws.use_client("sesv2", spy)
    return spy


class LedgerStream(TableStream):
    """The SendBatches stream, read from its start and fed to dispatch_ledger as Lambda would."""

    def __init__(self) -> None:
        super().__init__(get_settings().send_batches_table, from_start=True)

    def apply(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Feed the records (the new ones by default) to dispatch_ledger; its answer."""
        batch = self.read() if records is None else records
        if not batch:
            return {"batchItemFailures": []}
        result: dict[str, Any] = ledger_handler({"Records": batch}, LambdaContext())
        return result

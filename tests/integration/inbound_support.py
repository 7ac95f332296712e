"""What the inbound mail tests share: the addresses of the survey emails SES accepted
(tests.integration.surveys), and mail arriving as SES's receipt rule hands it over:
the raw message stored under inbound/ of the inbound bucket, then the function invoked with the
receipt event of events/ses."""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import Any

import boto3

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Invitation, Message, Quarantine
from closeloop.settings import get_settings
from tests.integration.surveys import survey_email
from tests.support import LambdaContext, load_event, load_handler

REGION = "eu-west-1"
inbound_handler = load_handler("inbound")


def reply_to(address: str) -> str:
    """The Reply-To of the latest survey email to this address: where the customer's reply goes."""
    return str(survey_email(address)["Reply-To"])


def mailto_unsubscribe(address: str) -> str:
    """The mailto address of the List-Unsubscribe header of the latest survey email to this address."""
    [found] = re.findall(r"<mailto:([^?>]+)", str(survey_email(address)["List-Unsubscribe"]))
    return str(found)


def invitation_to(address: str) -> Invitation:
    return Invitation.get(str(survey_email(address)["X-Closeloop-Invitation"]), consistent_read=True)


def mail(sender: str, to: str, text: str, *, subject: str = "Re: Votre avis compte pour nous", **headers: str) -> bytes:
    """A plain-text mail as a mail client sends it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{new_id()}@mail.customers.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


def receipt_event(
    raw: bytes, recipients: list[str], *, message_id: str, received_at: datetime, verdicts: dict[str, str]
) -> dict[str, Any]:
    """The SES receipt event of events/ses/receipt.json, for this mail."""
    event = load_event("ses/receipt.json")
    record = event["Records"][0]["ses"]
    stamp = received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record["mail"].update(messageId=message_id, timestamp=stamp, destination=recipients)
    record["receipt"].update(timestamp=stamp, recipients=recipients)
    for name, status in verdicts.items():
        record["receipt"][f"{name}Verdict"] = {"status": status}
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    record["mail"]["headers"] = [{"name": name, "value": str(value)} for name, value in headers.items()]
    common = {"from": [str(headers["From"])] if headers["From"] else [], "subject": str(headers["Subject"] or "")}
    record["mail"]["commonHeaders"] = {**common, "to": recipients}
    record["mail"]["source"] = parseaddr(str(headers["From"] or ""))[1]
    return event


def receive(
    raw: bytes,
    *recipients: str,
    message_id: str | None = None,
    verdicts: dict[str, str] | None = None,
    stored: bool = True,
) -> dict[str, Any]:
    """Mail arriving for these envelope recipients: stored by the receipt rule's S3 action, then the
    inbound function invoked (the Lambda action). The SES message id and the function's answer."""
    message_id = message_id or f"ses{new_id().lower()}"
    if stored:
        bucket = get_settings().inbound_bucket
        boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=f"inbound/{message_id}", Body=raw)
    event = receipt_event(
        raw, list(recipients), message_id=message_id, received_at=clock.now(), verdicts=verdicts or {}
    )
    answer: dict[str, Any] = inbound_handler(event, LambdaContext())
    return {"message_id": message_id, "event": event, **answer}


def messages_of(thread_id: str) -> list[Message]:
    return list(Message.query(thread_id, consistent_read=True))


def quarantined(message_id: str) -> Quarantine:
    return Quarantine.get(message_id, consistent_read=True)


def bucket_keys() -> set[str]:
    bucket = get_settings().inbound_bucket
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket).get("Contents") or []
    return {item["Key"] for item in listed}


def raw_object(key: str) -> bytes:
    bucket = get_settings().inbound_bucket
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"]
    return bytes(body.read())

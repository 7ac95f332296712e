"""Helpers of the SES events tests: survey emails really sent through the sender, SES events built
from the samples in events/ses/ for those emails, and the Invitations stream fed to the counters."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from closeloop.models import Invitation
from closeloop.settings import get_settings
from tests.integration.dispatch import INVITATION_HEADER, sent_messages
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_event, load_handler

ses_events_handler = load_handler("ses_events")
counters_handler = load_handler("counters")

SAMPLES = {"Send": "send", "Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint", "Reject": "reject"}


def email_of(invitation_id: str) -> EmailMessage:
    """The survey email SES accepted for this invitation (the latest, for a reminder)."""
    found = [message for message in sent_messages() if message[INVITATION_HEADER] == invitation_id]
    assert found, f"no email was sent for {invitation_id}"
    return found[-1]


def ses_event(kind: str, message: EmailMessage | None = None, **part: Any) -> dict[str, Any]:
    """The sample SES event of this kind, about `message` (its headers, recipient and SES message
    id, as SES's EventBridge destination would publish them); `part` replaces fields of the
    event's own part (`bounce`, `delivery`...)."""
    event = load_event(f"ses/{SAMPLES[kind]}.json")
    detail = event["detail"]
    if message is not None:
        recipient = str(message["To"])
        mail = detail["mail"]
        mail["headers"] = [{"name": name, "value": str(value)} for name, value in message.items()]
        mail["destination"] = [recipient]
        mail["commonHeaders"]["to"] = [recipient]
        mail["messageId"] = _ses_message_id(str(message[INVITATION_HEADER]), str(message.get("X-Closeloop-Step")))
        for name in ("bouncedRecipients", "complainedRecipients"):
            if name in detail.get(kind.lower(), {}):
                detail[kind.lower()][name][0]["emailAddress"] = recipient
        if kind == "Delivery":
            detail["delivery"]["recipients"] = [recipient]
    detail.get(kind.lower(), {}).update(part)
    return event


def _ses_message_id(invitation_id: str, step: str) -> str:
    """SES's message id of the email, as the sender stored it (a fixed one when it was lost)."""
    invitation = Invitation.get(invitation_id, consistent_read=True)
    sent = getattr(invitation, step if step in ("first", "reminder") else "first")
    return str(sent.message_id) if sent and sent.message_id else "0102019a-lost-answer-000000"


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge invoking the ses_events function with one event."""
    result: dict[str, Any] = ses_events_handler(json.loads(json.dumps(event)), LambdaContext())
    return result


def invitations_stream(*, from_start: bool = True) -> TableStream:
    return TableStream(get_settings().invitations_table, from_start=from_start)


def apply_counters(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The counters function invoked by the Invitations mapping with these records."""
    if not records:
        return {"batchItemFailures": []}
    result: dict[str, Any] = counters_handler({"Records": records}, LambdaContext())
    return result


def emitted(output: str) -> dict[str, float]:
    """The metrics of the EMF lines printed, summed by name."""
    totals: dict[str, float] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for definition in document["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = document[metric["Name"]]
                for one in value if isinstance(value, list) else [value]:
                    totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + float(one)
    return totals

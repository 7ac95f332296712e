"""SES events, emitted as SES's EventBridge destination sends them.

For every email SES accepts (`SendEmail` v2, Raw or Simple; `SendRawEmail` or `SendEmail` v1)
naming a configuration set that has an `AWS::SES::ConfigurationSetEventDestination` of the
template (Enabled, an `EventBridgeDestination`), the runtime puts on that bus, in order: a Send
event, then for each recipient a Delivery event, except SES's mailbox simulator:
`bounce@simulator.amazonses.com` bounces (a Permanent bounce, no delivery) and
`complaint@simulator.amazonses.com` is delivered then complains; `success@...` delivers. Only
the types in `MatchingEventTypes` are sent. A label after `+` (`bounce+w1@...`) is kept, as SES
does.

moto drops the configuration set and the tags; moto_taps.py reads them where the request
arrives, with the MessageId SES answered, on moto's request thread: only the domain clock is read
there, the events are built and routed on the router's threads, so a send is never slowed or
failed by its events.
"""

from __future__ import annotations

import email
import email.policy
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from closeloop_local import moto_taps
from closeloop_local.eventbridge import EventRouter, Routed, envelope

if TYPE_CHECKING:
    from closeloop_local.runtime import Runtime

log = logging.getLogger(__name__)

SIMULATOR_DOMAIN = "simulator.amazonses.com"
PROCESSING = timedelta(milliseconds=420)
FEEDBACK_DELAY = timedelta(seconds=2)
DETAIL_TYPES = {
    "send": ("Email Sent", "Send"),
    "reject": ("Email Rejected", "Reject"),
    "bounce": ("Email Bounced", "Bounce"),
    "complaint": ("Email Complaint Received", "Complaint"),
    "delivery": ("Email Delivered", "Delivery"),
}
_DESTINATION = "AWS::SES::ConfigurationSetEventDestination"


@dataclass(frozen=True)
class Destination:
    """An enabled EventBridge destination of a configuration set, and the event types it takes."""

    configuration_set: str
    bus: str
    types: frozenset[str]


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def declared_destinations(runtime: Runtime) -> dict[str, list[Destination]]:
    """The template's enabled EventBridge destinations, by configuration set name."""
    found: dict[str, list[Destination]] = {}
    for logical_id, resource in runtime.template.resources.items():
        if resource.type != _DESTINATION:
            continue
        props = resource.properties
        spec = props.get("EventDestination") or {}
        bridge = spec.get("EventBridgeDestination")
        if not _flag(spec.get("Enabled", False)):
            continue
        if not bridge:
            log.warning("%s: only EventBridge destinations are emulated locally", logical_id)
            continue
        name = str(props["ConfigurationSetName"])
        types = frozenset(str(t).lower() for t in spec.get("MatchingEventTypes") or [])
        found.setdefault(name, []).append(Destination(name, moto_taps.bus_name(bridge.get("EventBusArn")), types))
    return found


def simulated(address: str) -> str:
    """What SES's mailbox simulator does with `address`: success, bounce, complaint (else success)."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return "success"
    box = local.split("+", 1)[0]
    return box if box in ("bounce", "complaint") else "success"


def _headers(raw: bytes | None) -> tuple[list[dict[str, str]], Any]:
    if raw is None:
        return [], None
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = [
        {"name": name, "value": " ".join(str(value).split())}
        for name, value in parsed.items()  # compat32 keeps values as they were written
    ]
    return headers, parsed


def _common_headers(mail: moto_taps.SentMail, parsed: Any) -> dict[str, Any]:
    common: dict[str, Any] = {"messageId": mail.message_id}
    if parsed is None:
        common.update({"from": [mail.source], "to": list(mail.destinations), "subject": mail.subject})
        return common
    for header, key in (("From", "from"), ("Reply-To", "replyTo"), ("To", "to"), ("Cc", "cc")):
        values = parsed.get_all(header) or []
        if values:
            common[key] = [
                f"{name} <{address}>" if name else address for name, address in getaddresses([str(v) for v in values])
            ]
    if parsed.get("Date"):
        common["date"] = " ".join(str(parsed["Date"]).split())
    common["subject"] = " ".join(str(parsed.get("Subject", "")).split())
    return common


def mail_object(mail: moto_taps.SentMail, configuration_set: str, at: datetime) -> dict[str, Any]:
    """The `mail` part every SES event carries."""
    headers, parsed = _headers(mail.raw)
    domain = mail.source.rpartition("@")[2].rstrip(">")
    tags = {
        "ses:configuration-set": [configuration_set],
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [domain],
        "ses:caller-identity": ["local"],
        "ses:outgoing-ip": ["127.0.0.1"],
        **mail.tags,
    }
    return {
        "timestamp": _iso_ms(at),
        "source": mail.source,
        "sendingAccountId": mail.account,
        "messageId": mail.message_id,
        "destination": list(mail.destinations),
        "headersTruncated": False,
        "headers": headers,
        "commonHeaders": _common_headers(mail, parsed),
        "tags": tags,
    }


def _iso_ms(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _feedback_id() -> str:
    return f"{uuid.uuid4().hex}-{uuid.uuid4().hex[:24]}-000000"


def events_for(mail: moto_taps.SentMail, destination: Destination, at: datetime) -> list[dict[str, Any]]:
    """The events SES sends for `mail` to `destination`, in order (types it does not take left out)."""
    base = mail_object(mail, destination.configuration_set, at)
    arn = f"arn:aws:ses:{mail.region}:{mail.account}:configuration-set/{destination.configuration_set}"
    done = at + PROCESSING
    produced: list[tuple[str, datetime, dict[str, Any]]] = [("send", at, {})]
    for recipient in mail.destinations:
        address = getaddresses([recipient])[0][1] or recipient
        outcome = simulated(address)
        if outcome == "bounce":
            produced.append(
                (
                    "bounce",
                    done,
                    {
                        "feedbackId": _feedback_id(),
                        "bounceType": "Permanent",
                        "bounceSubType": "General",
                        "bouncedRecipients": [
                            {
                                "emailAddress": address,
                                "action": "failed",
                                "status": "5.1.1",
                                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                            }
                        ],
                        "timestamp": _iso_ms(done),
                        "reportingMTA": "dns; amazonses.com",
                    },
                )
            )
            continue
        produced.append(
            (
                "delivery",
                done,
                {
                    "timestamp": _iso_ms(done),
                    "processingTimeMillis": int(PROCESSING.total_seconds() * 1000),
                    "recipients": [address],
                    "smtpResponse": "250 2.6.0 Message received",
                    "reportingMTA": "local.smtp-out.amazonses.com",
                },
            )
        )
        if outcome == "complaint":
            complained = done + FEEDBACK_DELAY
            produced.append(
                (
                    "complaint",
                    complained,
                    {
                        "feedbackId": _feedback_id(),
                        "complaintSubType": None,
                        "complainedRecipients": [{"emailAddress": address}],
                        "timestamp": _iso_ms(complained),
                        "userAgent": "Amazon SES Mailbox Simulator",
                        "complaintFeedbackType": "abuse",
                        "arrivalDate": _iso_ms(complained),
                    },
                )
            )
    events = []
    for kind, when, part in produced:
        if kind not in destination.types:
            continue
        detail_type, event_type = DETAIL_TYPES[kind]
        detail = {"eventType": event_type, "mail": base, kind: part}
        events.append(
            envelope(
                source="aws.ses",
                detail_type=detail_type,
                detail=detail,
                account=mail.account,
                region=mail.region,
                at=when,
                resources=[arn],
            )
        )
    return events


class SesEvents:
    """Turns what SES accepted into events on the router (interface: start, stop)."""

    def __init__(self, runtime: Runtime, router: EventRouter) -> None:
        self.runtime = runtime
        self.router = router
        self.destinations: Mapping[str, list[Destination]] = {}
        self._forget: Any = None

    def start(self) -> None:
        self.destinations = declared_destinations(self.runtime)
        if self.destinations:
            self._forget = moto_taps.listen(self.runtime.moto_port_in_use, on_sent=self._on_sent)

    def stop(self) -> None:
        if self._forget is not None:
            self._forget()
            self._forget = None

    def _on_sent(self, mail: moto_taps.SentMail) -> None:
        """On moto's request thread: read the clock, hand the rest to the router's threads."""
        destinations = self.destinations.get(mail.configuration_set or "")
        if not destinations:
            return
        at = self.runtime.clock.now()

        def build() -> list[Routed]:
            return [(d.bus, event) for d in destinations for event in events_for(mail, d, at)]

        self.router.submit(build)

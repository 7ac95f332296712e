"""SES events, emitted as SES's EventBridge destination sends them, for every email sent with the configuration set."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closeloop_local.runtime import Runtime
from closeloop_local.ses_events import simulated
from tests.runtime.mail.support import seen

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SENDER = "nps@example.test"


def raw(to: str, invitation: str) -> bytes:
    return (
        f"From: NPS <{SENDER}>\r\nTo: {to}\r\nSubject: Votre avis compte\r\n"
        f"X-Closeloop-Invitation: {invitation}\r\nX-Closeloop-Step: first\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n"
    ).encode()


def send(runtime: Runtime, to: str, *, configuration_set: str | None = "SendingConfigurationSet") -> str:
    """Send as the product's sender does (SES v2, Raw); the MessageId SES answered."""
    request: dict[str, Any] = {
        "FromEmailAddress": SENDER,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Raw": {"Data": raw(to, uuid.uuid4().hex)}},
        "EmailTags": [{"Name": "wave", "Value": "w1"}],
    }
    if configuration_set:
        request["ConfigurationSetName"] = runtime.physical_name(configuration_set)
    return str(runtime.client("sesv2").send_email(**request)["MessageId"])


def events_of(runtime: Runtime, message_id: str) -> list[dict[str, Any]]:
    return [s.event for s in seen(runtime, "ses") if s.event["detail"]["mail"]["messageId"] == message_id]


def test_each_simulator_address_gets_its_events_in_order_with_the_message_sent(runtime: Runtime) -> None:
    runtime.clock.advance("P2D")
    later = datetime.now(UTC) + timedelta(days=2)

    sent = {box: send(runtime, f"{box}@simulator.amazonses.com") for box in ("success", "bounce", "complaint")}
    assert runtime.event_sources.drain(timeout=30)

    kinds = {box: [e["detail-type"] for e in events_of(runtime, mid)] for box, mid in sent.items()}
    assert kinds == {
        "success": ["Email Sent", "Email Delivered"],
        "bounce": ["Email Sent", "Email Bounced"],
        "complaint": ["Email Sent", "Email Delivered", "Email Complaint Received"],
    }
    sent_event, delivered, complained = events_of(runtime, sent["complaint"])
    mail = sent_event["detail"]["mail"]
    assert sent_event["source"] == "aws.ses"
    assert sent_event["resources"] == [
        f"arn:aws:ses:eu-west-1:123456789012:configuration-set/{runtime.physical_name('SendingConfigurationSet')}"
    ]
    assert sent_event["detail"]["eventType"] == "Send"
    assert sent_event["detail"]["send"] == {}
    assert mail["messageId"] == sent["complaint"]
    assert mail["source"] == SENDER
    assert mail["destination"] == ["complaint@simulator.amazonses.com"]
    headers = {h["name"]: h["value"] for h in mail["headers"]}
    assert headers["X-Closeloop-Step"] == "first"
    assert headers["X-Closeloop-Invitation"]
    assert mail["commonHeaders"]["subject"] == "Votre avis compte"
    assert mail["tags"]["ses:configuration-set"] == [runtime.physical_name("SendingConfigurationSet")]
    assert mail["tags"]["wave"] == ["w1"]
    assert delivered["detail"]["eventType"] == "Delivery"
    assert delivered["detail"]["delivery"]["recipients"] == ["complaint@simulator.amazonses.com"]
    assert complained["detail"]["eventType"] == "Complaint"
    assert complained["detail"]["complaint"]["complainedRecipients"] == [
        {"emailAddress": "complaint@simulator.amazonses.com"}
    ]
    (_, bounced) = events_of(runtime, sent["bounce"])
    assert bounced["detail"]["bounce"]["bounceType"] == "Permanent"
    assert bounced["detail"]["bounce"]["bouncedRecipients"][0]["emailAddress"] == "bounce@simulator.amazonses.com"
    # on the domain clock, two days ahead of real time
    when = datetime.fromisoformat(sent_event["time"].replace("Z", "+00:00"))
    assert abs(when - later) < timedelta(minutes=1)
    assert delivered["detail"]["delivery"]["timestamp"] >= mail["timestamp"]


def test_no_events_for_a_configuration_set_without_destination_or_without_one(runtime: Runtime) -> None:
    quiet = send(runtime, "success@simulator.amazonses.com", configuration_set="QuietConfigurationSet")
    bare = send(runtime, "success@simulator.amazonses.com", configuration_set=None)
    loud = send(runtime, "success@simulator.amazonses.com")
    assert runtime.event_sources.drain(timeout=30)

    assert events_of(runtime, quiet) == []
    assert events_of(runtime, bare) == []
    assert len(events_of(runtime, loud)) == 2  # the check above could see events


def test_a_send_raw_email_of_ses_v1_with_the_configuration_set_gets_its_events_too(runtime: Runtime) -> None:
    to = "bounce+v1@simulator.amazonses.com"

    message_id = runtime.client("ses").send_raw_email(
        Source=SENDER,
        Destinations=[to],
        RawMessage={"Data": raw(to, "v1")},
        ConfigurationSetName=runtime.physical_name("SendingConfigurationSet"),
    )["MessageId"]
    assert runtime.event_sources.drain(timeout=30)

    sent, bounced = events_of(runtime, message_id)
    assert (sent["detail-type"], bounced["detail-type"]) == ("Email Sent", "Email Bounced")
    assert {"name": "X-Closeloop-Invitation", "value": "v1"} in sent["detail"]["mail"]["headers"]


def test_concurrent_senders_get_every_event_of_every_message(runtime: Runtime) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda n: send(runtime, f"success+{n}@simulator.amazonses.com"), range(24)))
    assert runtime.event_sources.drain(timeout=60)

    assert len(set(ids)) == 24
    assert all([e["detail-type"] for e in events_of(runtime, mid)] == ["Email Sent", "Email Delivered"] for mid in ids)


def test_the_mailbox_simulator_keeps_labels_and_ignores_other_domains() -> None:
    assert simulated("Bounce+wave-7@Simulator.AmazonSES.com") == "bounce"
    assert simulated("complaint@simulator.amazonses.com") == "complaint"
    assert simulated("bounce@example.test") == "success"
    assert simulated("ooto@simulator.amazonses.com") == "success"

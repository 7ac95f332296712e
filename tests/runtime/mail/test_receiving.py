"""Mail sent to the runtime (SMTP or POST /_local/inbound) goes through the template's SES receipt rules."""

from __future__ import annotations

import smtplib
import uuid
from typing import Any

import httpx
import pytest

from closeloop_local.runtime import Runtime
from tests.runtime.mail.support import seen

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CUSTOMER = "dr.martin@client.test"
REPLY = "reply+abcdefghijkl@reply.example.test"


def message(subject: str, *, to: str = REPLY, extra: str = "", body: str = "Bonjour,\r\nmerci.\r\n") -> bytes:
    return (
        f"From: Dr Martin <{CUSTOMER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\n"
        f"{extra}\r\n{body}"
    ).encode()


def send_over_smtp(runtime: Runtime, raw: bytes, recipients: list[str]) -> tuple[int, str, list[int]]:
    """Send one message; (DATA reply code, its text, the RCPT reply codes)."""
    with smtplib.SMTP("127.0.0.1", runtime.smtp_port, timeout=30) as client:
        client.ehlo("client.test")
        client.mail(CUSTOMER)
        codes = [client.rcpt(address)[0] for address in recipients]
        code, text = client.data(raw)
        return code, text.decode(), codes


def queued_id(text: str) -> str:
    assert "queued as " in text, text
    return text.rsplit("queued as ", 1)[1].strip()


def stored(runtime: Runtime, key: str) -> bytes:
    bucket = runtime.physical_name("InboundMailBucket")
    return bytes(runtime.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def received(runtime: Runtime, message_id: str) -> list[dict[str, Any]]:
    return [
        s.event["Records"][0]["ses"]
        for s in seen(runtime, "inbound")
        if s.event["Records"][0]["ses"]["mail"]["messageId"] == message_id
    ]


def test_a_reply_over_smtp_is_stored_under_the_rule_prefix_and_reaches_the_function_as_ses_sends_it(
    runtime: Runtime,
) -> None:
    raw = message("Re: votre avis", extra="X-Closeloop-Local-Verdict: spam=FAIL\r\n", body="Oui\r\n.point\r\n")

    code, text, rcpt = send_over_smtp(runtime, raw, [REPLY])
    message_id = queued_id(text)
    assert runtime.event_sources.drain(timeout=30)

    assert (code, rcpt) == (250, [250])
    kept = stored(runtime, f"inbound/{message_id}")
    assert kept.startswith(f"Return-Path: <{CUSTOMER}>\r\nReceived: ".encode())
    assert b"X-SES-Spam-Verdict: FAIL\r\n" in kept
    assert b"X-SES-Virus-Verdict: PASS\r\n" in kept
    assert b"X-Closeloop-Local-Verdict" not in kept
    assert kept.endswith(b"\r\n\r\nOui\r\n.point\r\n")  # smtplib doubled the dot, the server undid it
    ((ses,),) = [received(runtime, message_id)]
    mail, receipt = ses["mail"], ses["receipt"]
    assert mail["source"] == CUSTOMER
    assert mail["destination"] == [REPLY]
    assert mail["headersTruncated"] is False
    assert {"name": "Subject", "value": "Re: votre avis"} in mail["headers"]
    assert not [h for h in mail["headers"] if h["name"] == "X-Closeloop-Local-Verdict"]
    assert mail["commonHeaders"]["from"] == [f"Dr Martin <{CUSTOMER}>"]
    assert mail["commonHeaders"]["to"] == [REPLY]
    assert mail["commonHeaders"]["subject"] == "Re: votre avis"
    assert mail["commonHeaders"]["returnPath"] == CUSTOMER
    assert receipt["recipients"] == [REPLY]
    assert receipt["spamVerdict"] == {"status": "FAIL"}
    assert receipt["virusVerdict"] == {"status": "PASS"}
    assert receipt["spfVerdict"] == receipt["dkimVerdict"] == receipt["dmarcVerdict"] == {"status": "PASS"}
    assert receipt["action"] == {
        "type": "Lambda",
        "functionArn": runtime.arn("InboundFunction"),
        "invocationType": "Event",
    }
    (record,) = [s for s in seen(runtime, "inbound") if s.event["Records"][0]["ses"]["mail"]["messageId"] == message_id]
    assert record.stored_size == len(kept)  # the raw message was in the bucket before the function ran


def test_recipients_no_enabled_rule_covers_are_refused_with_550_and_the_others_get_one_message(
    runtime: Runtime,
) -> None:
    second = "reply+mnopqrstuvwx@REPLY.example.test"
    refused = ["someone@elsewhere.test", "info@closed.example.test", "x@sub.reply.example.test"]

    code, text, rcpt = send_over_smtp(runtime, message("deux", to=f"{REPLY}, {second}"), [REPLY, *refused, second])
    message_id = queued_id(text)
    assert runtime.event_sources.drain(timeout=30)

    assert code == 250
    assert rcpt == [250, 550, 550, 550, 250]
    ((ses,),) = [received(runtime, message_id)]
    assert ses["mail"]["destination"] == [REPLY, second]
    assert ses["receipt"]["recipients"] == [REPLY, second]


def test_a_message_with_no_accepted_recipient_is_refused_at_data(runtime: Runtime) -> None:
    with smtplib.SMTP("127.0.0.1", runtime.smtp_port, timeout=30) as client:
        client.ehlo("client.test")
        client.mail(CUSTOMER)

        assert client.rcpt("nobody@elsewhere.test")[0] == 550
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.data(message("rien"))

    assert refused.value.smtp_code == 554


def test_a_message_over_10_mb_is_refused_with_552_whether_announced_or_not(runtime: Runtime) -> None:
    bucket = runtime.physical_name("InboundMailBucket")
    before = runtime.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    line = "x" * 998 + "\r\n"
    big = message("gros", body=line * 10_600)
    assert len(big) > 10 * 1024 * 1024

    with smtplib.SMTP("127.0.0.1", runtime.smtp_port, timeout=60) as client:
        client.ehlo("client.test")
        assert "size" in client.esmtp_features
        announced = client.mail(CUSTOMER, [f"SIZE={len(big)}"])[0]
        client.rset()
        client.mail(CUSTOMER)
        client.rcpt(REPLY)
        unannounced = client.data(big)[0]
        client.rset()
        client.mail(CUSTOMER)
        client.rcpt(REPLY)
        just_under = client.data(message("presque", body=line * 10_000))[0]

    assert (announced, unannounced, just_under) == (552, 552, 250)
    assert runtime.event_sources.drain(timeout=30)
    assert runtime.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0) == before + 1


def test_the_smtp_dialogue_answers_as_a_mail_server_does(runtime: Runtime) -> None:
    with smtplib.SMTP("127.0.0.1", runtime.smtp_port, timeout=30) as client:
        assert client.helo("client.test")[0] == 250
        assert client.rcpt(REPLY)[0] == 503  # no MAIL FROM yet
        assert client.mail(CUSTOMER)[0] == 250
        assert client.mail(CUSTOMER)[0] == 503  # one sender per transaction
        assert client.rset()[0] == 250
        assert client.noop()[0] == 250
        assert client.verify(REPLY)[0] == 252
        assert client.docmd("STARTTLS")[0] == 502
        assert client.docmd("FROB")[0] == 500


def test_a_rule_after_another_adds_its_header_stores_under_its_prefix_and_stops_the_rule_set(
    runtime: Runtime,
) -> None:
    code, text, _ = send_over_smtp(runtime, message("aide", to="help@example.test"), ["help@example.test"])
    message_id = queued_id(text)
    assert runtime.event_sources.drain(timeout=30)

    assert code == 250
    kept = stored(runtime, f"help/{message_id}")
    assert kept.startswith(b"X-Routed-By: help\r\nReturn-Path: ")
    assert b"X-SES-Spam-Verdict" not in kept  # that rule does not scan
    assert received(runtime, message_id) == []


def test_a_raw_message_posted_to_local_inbound_goes_through_the_same_rules(runtime: Runtime) -> None:
    raw = message("par HTTP", extra="X-Closeloop-Local-Verdict: virus=FAIL, dkim=GRAY\r\n")

    answer = httpx.post(f"{runtime.url}/_local/inbound", content=raw, timeout=30)
    assert runtime.event_sources.drain(timeout=30)

    assert answer.status_code == 202
    message_id = answer.json()["message_id"]
    assert b"X-SES-Virus-Verdict: FAIL" in stored(runtime, f"inbound/{message_id}")
    ((ses,),) = [received(runtime, message_id)]
    assert ses["mail"]["source"] == CUSTOMER  # the From address stands for the envelope sender
    assert ses["mail"]["destination"] == [REPLY]  # the To address, without an envelope
    assert ses["receipt"]["virusVerdict"] == {"status": "FAIL"}
    assert ses["receipt"]["dkimVerdict"] == {"status": "GRAY"}


def test_local_inbound_takes_its_envelope_from_the_query_and_refuses_what_ses_would(runtime: Runtime) -> None:
    other = "reply+zzzzzzzzzzzz@reply.example.test"
    url = f"{runtime.url}/_local/inbound"

    routed = httpx.post(url, params={"to": f"{other},nobody@elsewhere.test"}, content=message("q"), timeout=30)
    uncovered = httpx.post(url, params={"to": "nobody@elsewhere.test"}, content=message("q"), timeout=30)
    empty = httpx.post(url, content=b"", timeout=30)
    assert runtime.event_sources.drain(timeout=30)

    assert routed.status_code == 202
    assert routed.json()["refused"] == ["nobody@elsewhere.test"]
    ((ses,),) = [received(runtime, routed.json()["message_id"])]
    assert ses["mail"]["destination"] == [other]
    assert uncovered.status_code == 422
    assert empty.status_code == 400

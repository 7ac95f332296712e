"""Scanners and people through the local runtime: the promoter on its 5-minute schedule (fired by
the runtime's clock), the Responses stream drained into the counters and onto the event bus.

A mail gateway fetching every link of an invitation seconds after sending (HEAD and GET, the trap
and unsubscribe links included, and once in a real Chromium running the pages' JavaScript) leaves
no response and no unsubscribe; a person's single click, left unconfirmed, becomes an unconfirmed
response after the delay, which their later POST confirms."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from closeloop import clock
from closeloop.ids import new_id
from closeloop.mail.survey import links_for
from closeloop.models import Click, Invitation, Response, SendBatch, Suppression, invitation_id_for
from closeloop.rules.nps_counters import NPS_METRIC
from closeloop.secrets import email_hash
from closeloop_local.runtime import Runtime
from tests.browser import chromium
from tests.integration.dispatch import body, make_contact, make_wave, reserve

FIREFOX = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0"
GATEWAY = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def _send(system: Runtime, http: httpx.Client, address: str, *, wait: bool = True) -> tuple[str, str, list[str]]:
    """One survey email through the send queue and the sender; (wave id, invitation id, links).

    `wait=False` returns the moment SES has taken the email, as a gateway receives it (the links
    are the email's own, `links_for`), without waiting for the ledger's consumer or the outbox."""
    clock.set_state(**system.clock.state())  # items of this process dated on the runtime's clock
    wave = make_wave(closes_at=clock.now() + timedelta(days=60))
    contact = make_contact(address, first_name="Hélène", language="fr")
    batch_id, [invitation_id] = reserve(wave, [contact])
    sqs = system.client("sqs")
    url = sqs.get_queue_url(QueueName=system.physical_name("SendQueue"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body(wave, batch_id, [invitation_id]))
    if not wait:
        for _ in range(1000):
            ledger = SendBatch.get(batch_id, consistent_read=True) if SendBatch.count(batch_id) else None
            outcome = ledger.outcomes.as_dict().get(invitation_id) if ledger and ledger.outcomes else None
            if outcome and outcome.get("state") == "sent":
                return wave.wave_id, invitation_id, list(links_for(invitation_id).values())
            time.sleep(0.02)
        raise AssertionError("the email was never sent")
    assert system.event_sources.drain(timeout=60)
    [sent] = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
    return wave.wave_id, invitation_id, list(sent["links"])


SCANNER_THREADS = 6


def _warm(system: Runtime) -> None:
    """The capture and unsubscribe functions warm, as Lambda has them under steady traffic: the
    links of an invitation whose wave has closed answer 410 and record nothing, and links with a
    token that opens nothing answer 404."""
    clock.set_state(**system.clock.state())
    wave = make_wave(closes_at=clock.now() - timedelta(seconds=1))
    invitation = Invitation(invitation_id_for(wave.wave_id, new_id()), wave_id=wave.wave_id, contact_id=new_id())
    invitation.closes_at = wave.closes_at
    invitation.save()
    closed = links_for(invitation.invitation_id)
    urls = [closed[str(n)] for n in range(SCANNER_THREADS)] + [f"{system.url}/u/{'A' * 40}"] * 2
    with ThreadPoolExecutor(len(urls)) as pool:
        statuses = list(pool.map(lambda url: httpx.get(url, timeout=60).status_code, urls))
    assert statuses == [410] * SCANNER_THREADS + [404] * 2


def _advance(http: httpx.Client, duration: str) -> None:
    answer = http.post("/_local/clock", json={"advance": duration})
    assert answer.status_code == 200, answer.text


def _clicked_at(click: Click) -> datetime:
    return datetime.fromisoformat(click.click_key.split("#")[0])


def _clicks(invitation_id: str) -> list[Click]:
    return list(Click.query(invitation_id, consistent_read=True))


def _nps(system: Runtime, scope: str) -> dict[str, float]:
    table = system.physical_name("StatsTable")
    item = system.client("dynamodb").get_item(
        TableName=table, Key={"scope": {"S": scope}, "metric": {"S": NPS_METRIC}}, ConsistentRead=True
    )
    return {name: float(value["N"]) for name, value in item.get("Item", {}).items() if "N" in value}


@contextmanager
def _bus_subscriber(system: Runtime) -> Iterator[Any]:
    """An SQS queue behind a rule of the product's bus in the runtime's moto: the events a
    subscriber (a CRM, a data lake) would receive."""
    name = f"e2e-subscriber-{new_id().lower()}"
    sqs, events = system.client("sqs"), system.client("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = system.physical_name("EventBus")
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["closeloop"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])

    def received(response_id: str) -> list[dict[str, Any]]:
        found = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [event for event in found if event["detail"].get("response_id") == response_id]

    try:
        yield received
    finally:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=bus)
        sqs.delete_queue(QueueUrl=url)


def test_a_scanner_fetching_every_link_seconds_after_sending_leaves_no_response_and_no_unsubscribe(
    system: Runtime, http: httpx.Client
) -> None:
    address = f"e2e.scanned.{new_id().lower()}@clinique-des-lilas.example"
    _warm(system)
    with chromium() as browser:
        page = browser.new_page()  # the gateway's browser, ready before the email arrives
        # Given a survey email just sent
        _, invitation_id, links = _send(system, http, address, wait=False)
        scored = [link for link in links if "/r/" in link]
        unsubscribe = [link for link in links if "/u/" in link]
        assert len(scored) == 12  # 11 scores and the trap
        assert len(unsubscribe) == 1

        # When a gateway fetches every link, HEAD and GET, a few at a time, with a browser's user agent
        def fetch(request: tuple[str, str]) -> int:
            method, link = request
            return httpx.request(method, link, headers={"user-agent": GATEWAY}, timeout=30).status_code

        requests = [(method, link) for link in [*scored, *unsubscribe] for method in ("HEAD", "GET")]
        with ThreadPoolExecutor(SCANNER_THREADS) as pool:
            fetched = [pool.submit(fetch, request) for request in requests]
            # and, meanwhile, opens a score page and the unsubscribe page in a real browser, running
            # their scripts
            for link in (scored[10], unsubscribe[0]):
                page.goto(link)
                page.wait_for_load_state("networkidle")
            statuses = [future.result() for future in fetched]

    assert dict(zip(requests, statuses, strict=True)) == dict.fromkeys(requests, 200)
    assert system.event_sources.drain(timeout=60)
    [email] = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
    assert sorted(email["links"]) == sorted(links), "the links fetched are the email's"
    clicks = _clicks(invitation_id)
    assert len(clicks) == 12 * 2 + 1  # every score and the trap, HEAD and GET, and the browser's GET
    invitation = Invitation.get(invitation_id, consistent_read=True)
    sent_at = invitation.first.at
    after_send = [(_clicked_at(click) - sent_at).total_seconds() for click in clicks]
    # a gateway's run takes a second or two; here its 27 requests share 2 CPUs with the sender,
    # the ledger and the SES events the send sets off (1 to 2.3 s measured). What matters is that
    # it stays well inside the scanner rule's window (a click within 60 s of delivery or sending).
    assert max(after_send) < 4, f"the scanner ran seconds after the send: {sorted(after_send)}"
    assert invitation.unsubscribed_at is None, "showing the unsubscribe page changes nothing"

    # When the clock moves past the promotion delay (the promoter runs every 5 minutes)
    _advance(http, "PT40M")

    # Then the promoter has decided every click and written no response, and nobody unsubscribed
    assert [click for click in _clicks(invitation_id) if click.promote_at is not None] == []
    assert Response.count(invitation_id, consistent_read=True) == 0
    invitation = Invitation.get(invitation_id, consistent_read=True)
    assert (invitation.responded_at, invitation.unsubscribed_at) == (None, None)
    assert invitation.first.at == sent_at
    assert Suppression.count(email_hash(address), consistent_read=True) == 0


def test_a_persons_single_click_becomes_an_unconfirmed_response_that_their_later_post_confirms(
    system: Runtime, http: httpx.Client
) -> None:
    address = f"e2e.person.{new_id().lower()}@pharmacie-des-quais.example"
    wave_id, invitation_id, links = _send(system, http, address)
    link = next(link for link in links if link.endswith("/8"))
    token = link.split("/")[-2]

    with _bus_subscriber(system) as received:
        # Given a person who opens the email a few minutes later, clicks 8, and closes the page
        _advance(http, "PT4M")
        assert httpx.get(link, headers={"user-agent": FIREFOX}, timeout=30).status_code == 200
        assert Response.count(invitation_id, consistent_read=True) == 0

        # When the promotion delay has passed
        _advance(http, "PT35M")

        # Then their click is an unconfirmed response, counted apart and announced on the bus
        response = Response.get(invitation_id, consistent_read=True)
        assert (response.score, response.category) == (8, "passive")
        assert (response.confirmed, response.source) == (False, "click")
        assert Invitation.get(invitation_id, consistent_read=True).responded_at is not None
        assert _nps(system, f"wave#{wave_id}") == {"n_pas_u": 1, "w_pas_u": 1, "w2_u": 1}
        [captured] = received(invitation_id)
        assert captured["detail-type"] == "ResponseCaptured"
        assert (captured["detail"]["category"], captured["detail"]["confirmed"]) == ("passive", False)

        # When the person comes back and sends the form
        sent = http.post(f"/r/{token}", data={"score": "8", "comment": "Très bon suivi."})
        assert sent.status_code == 200
        assert system.event_sources.drain(timeout=60)

        # Then the response is confirmed, the counters move it from unconfirmed to confirmed
        response = Response.get(invitation_id, consistent_read=True)
        assert (response.score, response.confirmed, response.source) == (8, True, "form")
        counted = _nps(system, f"wave#{wave_id}")
        assert (counted["n_pas_u"], counted["n_pas_c"], counted["comment_c"]) == (0, 1, 1)
        [changed] = received(invitation_id)
        assert changed["detail-type"] == "ResponseChanged"
        assert changed["detail"]["changed"] == ["comment", "confirmation"]

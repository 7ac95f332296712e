"""Sending through the local runtime: a batch on the send queue becomes an email in the outbox."""

from __future__ import annotations

import json
import re
from html import unescape

import httpx

from closeloop.models import Invitation
from closeloop.tokens import TokenKind, read_token
from closeloop_local.runtime import Runtime
from tests.browser import chromium
from tests.integration.dispatch import body, make_contact, make_wave, reserve
from tests.support import ROOT

ARTIFACTS = ROOT / "test-artifacts"


def test_a_batch_on_the_send_queue_ends_in_the_outbox_with_links_to_the_gateway(
    system: Runtime, http: httpx.Client
) -> None:
    # Given a wave sending, with one reserved invitation in an English-speaking contact's batch
    wave = make_wave()
    contact = make_contact("e2e.reader@riverside-pharmacy.example", first_name="Emily", language="en")
    batch_id, [invitation_id] = reserve(wave, [contact])

    # When the planner's message reaches the send queue and the runtime lets it flow
    sqs = system.client("sqs")
    url = sqs.get_queue_url(QueueName=system.physical_name("SendQueue"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body(wave, batch_id, [invitation_id]))
    assert system.event_sources.drain(timeout=60)

    # Then the outbox holds one email for that invitation, in English, addressed to the contact
    answer = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()
    [sent] = answer["messages"]
    assert sent["to"] == ["e2e.reader@riverside-pharmacy.example"]
    assert sent["subject"] == "Your opinion matters to us"
    assert "Hello Emily," in sent["text"]
    headers = dict(sent["headers"])
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # and its links point at the gateway, with tokens that open this invitation
    scores = [link for link in sent["links"] if re.fullmatch(rf"{system.url}/r/[\w-]{{40}}/\d+", link)]
    assert [link.rsplit("/", 1)[1] for link in scores] == [str(n) for n in range(11)]
    assert {read_token(link.split("/")[-2], TokenKind.SURVEY) for link in scores} == {invitation_id}
    unsubscribe = next(link for link in sent["links"] if "/u/" in link)
    assert unsubscribe.startswith(f"{system.url}/u/")
    assert read_token(unsubscribe.rsplit("/", 1)[1], TokenKind.UNSUBSCRIBE) == invitation_id
    # and the ledger's consumer has marked the invitation sent with SES's message id, and SES's
    # delivery event (emitted by the runtime as SES would) delivered
    invitation = Invitation.get(invitation_id, consistent_read=True)
    assert (invitation.first.state, invitation.first.message_id) == ("sent", sent["id"])
    assert invitation.status == "delivered"

    # The outbox page shows it, the HTML in a sandboxed frame, and the raw message is there too
    page = http.get("/_local/outbox", params={"invitation": invitation_id})
    assert page.status_code == 200
    frames = re.findall(r'<iframe[^>]*sandbox="([^"]*)"[^>]*srcdoc="([^"]*)"', page.text)
    assert len(frames) == 1
    assert "allow-scripts" not in frames[0][0]
    assert f'href="{scores[7]}"' in unescape(frames[0][1])
    raw = http.get(f"/_local/outbox/{sent['id']}")
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert f"X-Closeloop-Invitation: {invitation_id}" in raw.text
    assert json.loads(http.get("/_local/outbox.json", params={"limit": "1"}).text)["count"] >= 1


def test_the_outbox_page_shows_the_email_as_a_reader_sees_it_and_its_links_open_the_gateway(
    system: Runtime, http: httpx.Client
) -> None:
    wave = make_wave()
    contact = make_contact("e2e.lecteur@pharmacie-du-port.example", first_name="Élodie", language="fr")
    batch_id, [invitation_id] = reserve(wave, [contact])
    sqs = system.client("sqs")
    url = sqs.get_queue_url(QueueName=system.physical_name("SendQueue"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body(wave, batch_id, [invitation_id]))
    assert system.event_sources.drain(timeout=60)
    ARTIFACTS.mkdir(exist_ok=True)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.goto(f"{system.url}/_local/outbox?invitation={invitation_id}")
        frame = page.frame_locator("iframe")
        frame.get_by_text("Bonjour Élodie,").wait_for(timeout=15_000)
        scores = frame.locator("a[href*='/r/']")
        visible = [scores.nth(n).inner_text() for n in range(scores.count()) if scores.nth(n).is_visible()]
        hidden = [scores.nth(n).get_attribute("href") for n in range(scores.count()) if not scores.nth(n).is_visible()]
        page.screenshot(path=str(ARTIFACTS / "outbox.png"), full_page=True)
        with page.expect_popup() as opened:
            frame.get_by_role("link", name="Note 7 sur 10").click()
        target = opened.value.url

    assert visible == [str(score) for score in range(11)]
    assert len(hidden) == 1
    assert str(hidden[0]).endswith("/trap")
    assert target.startswith(f"{system.url}/r/")
    assert target.endswith("/7")

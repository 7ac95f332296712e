"""Unsubscribe through the local runtime: the List-Unsubscribe URL of an email in the outbox takes a
mail client's RFC 8058 one-click POST through the gateway, and the next wave skips the address."""

from __future__ import annotations

import re
import uuid

import httpx

from closeloop.models import Invitation, Suppression
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.integration.planning_support import add_contacts

CLAIRE = "claire.martin@demo.closeloop.example"  # manager


def _wave_to(http: httpx.Client, segment: str, manager: dict[str, str], name: str) -> str:
    """A wave to a segment, created over HTTP to start now; the clock moved past its start."""
    created = http.post("/waves", json={"name": name, "target": {"segments": [segment]}}, headers=manager)
    assert created.status_code == 201, created.text
    assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    wave_id: str = created.json()["wave_id"]
    return wave_id


def test_a_one_click_post_to_the_list_unsubscribe_url_suppresses_and_the_next_wave_skips_the_address(
    system: Runtime, http: httpx.Client
) -> None:
    # Given the demo wave has gone (to everyone, a minute after the start), then two contacts of a
    # segment of their own, surveyed by a wave whose emails are in the outbox
    assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    segment = f"e2e-unsub-{uuid.uuid4().hex[:8]}"
    leaving, staying = add_contacts(2, segment=segment, language="en", prefix=segment.replace("-", ""))
    manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}
    first = _wave_to(http, segment, manager, "E2E unsubscribe, first")
    invitation_id = next(i.invitation_id for i in Invitation.by_wave.query(first) if i.contact_id == leaving.contact_id)
    [email] = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
    headers = dict(email["headers"])
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [url] = re.findall(r"<(http[^>]+)>", headers["List-Unsubscribe"])
    assert url.startswith(f"{system.url}/u/")

    # When a mail scanner opens the URL, then the reader's mail client sends RFC 8058's one-click POST
    opened = http.get(url)
    assert opened.status_code == 200
    assert "Unsubscribe me" in opened.text
    assert Suppression.count(leaving.email_hash, consistent_read=True) == 0, "a GET changes nothing"
    posted = http.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    # Then the gateway answers 200 with the confirmation, and the address is suppressed at once
    assert posted.status_code == 200
    assert "You are unsubscribed" in posted.text
    assert posted.headers["cache-control"] == "no-store"
    suppression = Suppression.get(leaving.email_hash, consistent_read=True)
    assert (suppression.reason, suppression.source, suppression.invitation_id) == (
        "unsubscribe",
        "one_click",
        invitation_id,
    )

    # And a second wave to the same segment skips the address as suppressed
    second = _wave_to(http, segment, manager, "E2E unsubscribe, second")
    shown = http.get(f"/waves/{second}", headers=manager).json()
    assert shown["counts"]["skipped"]["suppressed"] == 1
    skipped = {i.contact_id: i for i in Invitation.by_wave.query(second)}
    assert Invitation.get(skipped[leaving.contact_id].invitation_id).skip_reason == "suppressed"
    assert Invitation.get(skipped[staying.contact_id].invitation_id).skip_reason != "suppressed"
    assert len(http.get("/_local/outbox.json", params={"to": leaving.email}).json()["messages"]) == 1

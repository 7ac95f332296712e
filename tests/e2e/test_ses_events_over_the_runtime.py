"""SES events through the local runtime: a wave sent to SES's mailbox simulator comes back as SES
would report it (a bounce, a delivery then a complaint, a delivery), through the configuration
set's EventBridge destination and the template's rule, to ses_events; the addresses are
suppressed, the deliveries counted, and a later wave skips the suppressed contacts."""

from __future__ import annotations

import uuid

import httpx

from closeloop.models import Contact, Invitation, Stat, Suppression
from closeloop.rules.mail_counters import MAIL_METRIC
from closeloop.secrets import email_hash
from closeloop.services.stats import verify_mail
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for

CLAIRE = "claire.martin@demo.closeloop.example"  # manager


def _contact(address: str, segment: str) -> Contact:
    contact = Contact(
        f"E2ESES{uuid.uuid4().hex[:20].upper()}",
        email=address,
        email_hash=email_hash(address),
        first_name="Anne",
        last_name="Martin",
        language="fr",
        segment=segment,
    )
    contact.save()
    return contact


def _start_wave(system: Runtime, http: httpx.Client, segment: str, manager: dict[str, str]) -> str:
    """A wave to the segment created now and started by its schedule, everything drained."""
    created = http.post("/waves", json={"name": "SES e2e", "target": {"segments": [segment]}}, headers=manager)
    assert created.status_code == 201, created.text
    wave_id: str = created.json()["wave_id"]
    assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    assert system.event_sources.drain(timeout=90)
    return wave_id


def test_simulator_bounces_and_complaints_suppress_and_a_later_wave_skips_them(
    system: Runtime, http: httpx.Client
) -> None:
    # Given the demo wave (to everyone, a minute after the start) gone, and three contacts of a
    # segment of their own: SES's bounce and complaint simulator addresses, and its success address
    assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    tag = uuid.uuid4().hex[:8]
    segment = f"e2e-ses-{tag}"
    bounce, complaint, success = (
        f"{name}+{tag}@simulator.amazonses.com" for name in ("bounce", "complaint", "success")
    )
    contacts = {address: _contact(address, segment) for address in (bounce, complaint, success)}
    manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}

    # When a wave to the segment is sent and everything SES reports has flowed through
    wave_id = _start_wave(system, http, segment, manager)

    # Then the bounced and the complaining addresses are suppressed, for SES's reasons
    stored = Suppression.get(email_hash(bounce), consistent_read=True)
    assert (stored.reason, stored.source) == ("bounce", "ses")
    stored = Suppression.get(email_hash(complaint), consistent_read=True)
    assert (stored.reason, stored.source) == ("complaint", "ses")
    assert Suppression.count(email_hash(success)) == 0
    # and the invitations say so; the success address is delivered
    by_contact = {item.contact_id: item for item in Invitation.by_wave.query(wave_id)}
    invitations = {
        address: Invitation.get(by_contact[contact.contact_id].invitation_id, consistent_read=True)
        for address, contact in contacts.items()
    }
    assert (invitations[bounce].status, invitations[bounce].bounce_type) == ("bounced", "Permanent")
    assert invitations[complaint].complained_at is not None
    assert invitations[success].status == "delivered"
    assert invitations[success].delivered_at is not None
    # and the wave shows two deliveries (the complaining mailbox got its email), a bounce, a complaint
    counts = http.get(f"/waves/{wave_id}", headers=manager).json()["counts"]
    assert (counts["sent"], counts["delivered"], counts["bounced"], counts["complained"]) == (3, 2, 1, 1)
    item = Stat._get_connection().get_item(f"wave#{wave_id}", range_key=MAIL_METRIC, consistent_read=True)["Item"]
    assert {name: item[name]["N"] for name in ("sent", "delivered", "bounced", "complained")} == {
        "sent": "3",
        "delivered": "2",
        "bounced": "1",
        "complained": "1",
    }
    assert [d for d in verify_mail() if wave_id in str(d.target)] == []

    # When a later wave to the same segment starts
    later = _start_wave(system, http, segment, manager)

    # Then it skips the two suppressed contacts (the third one, surveyed minutes ago, waits for
    # the survey-pressure gap)
    shown = http.get(f"/waves/{later}", headers=manager).json()["counts"]
    assert shown["targeted"] == 3
    assert shown["skipped"] == {"suppressed": 2, "pressure_gap": 1, "pressure_max": 0}
    skipped = {item.contact_id: item for item in Invitation.by_wave.query(later)}
    assert {skipped[contacts[address].contact_id].status for address in (bounce, complaint)} == {"skipped"}

"""SES events of survey emails (functions/ses_events): what SES did with each email decides who may
be mailed again and gives the participation rate its denominator.

The emails are really sent (the sender, moto's SES, dispatch_ledger), and each event is the sample
of events/ses/ about one of them, handed to the function as EventBridge would; then the
Invitations stream goes to the counters, and we look at suppressions, invitations, the wave, the
Stats items and the metrics emitted, as a manager or an operator would.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from closeloop import clock
from closeloop.models import Invitation, SendBatch, Stat, Suppression, Wave
from closeloop.rules.mail_counters import MAIL_METRIC
from closeloop.secrets import email_hash
from closeloop.services import counters, sending
from closeloop.services.stats import verify_mail
from closeloop.services.unsubscribe import suppress
from closeloop.settings import get_settings
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import Injected, LedgerStream, body, deliver, make_contact, make_wave, reserve, spy_ses
from tests.integration.planning_support import START, invitations_of, new_wave, start, use_wave_functions_environment
from tests.integration.ses_events_support import (
    apply_counters,
    email_of,
    emitted,
    handle,
    invitations_stream,
    ses_event,
)

BOUNCE, COMPLAINT, SUCCESS = (f"{name}@simulator.amazonses.com" for name in ("bounce", "complaint", "success"))


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process configured as the sender, the planner and ses_events, sending fast."""
    for function in ("SenderFunction", "SesEventsFunction"):
        for name, value in stack.functions[function].environment.items():
            monkeypatch.setenv(name, value)
    use_wave_functions_environment(stack, monkeypatch)
    monkeypatch.setattr(sending, "retry_delay_seconds", lambda _attempt: 0)
    monkeypatch.setenv("MAX_SEND_RATE", "1000")
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)
    get_settings.cache_clear()
    exact_numbers()
    return stack


def send_wave(*addresses: str, languages: tuple[str, ...] = ("fr",)) -> tuple[Wave, list[str]]:
    """A wave whose first emails went out to these addresses (one batch), the ledger applied."""
    wave = make_wave(planning_done=True, reserved=len(addresses))
    contacts = [make_contact(address, language=languages[n % len(languages)]) for n, address in enumerate(addresses)]
    batch_id, ids = reserve(wave, contacts)
    spy_ses()
    assert deliver(body(wave, batch_id, ids)) == {"batchItemFailures": []}
    LedgerStream().apply()
    return wave, ids


def invitation(invitation_id: str) -> Invitation:
    return Invitation.get(invitation_id, consistent_read=True)


def mail_item(scope: str) -> dict[str, int]:
    """A Stats `mail` item's counts, {} when absent."""
    raw = Stat._get_connection().get_item(scope, range_key=MAIL_METRIC, consistent_read=True).get("Item") or {}
    return {name: int(value["N"]) for name, value in raw.items() if "N" in value and name != "expires_at"}


# ------------------------------------------------------------------ bounces and complaints


def test_a_permanent_bounce_and_a_complaint_suppress_the_address_and_a_later_wave_skips_it(ready: Any) -> None:
    # Given a wave sent to SES's bounce and complaint simulator addresses and to a mailbox that works
    _, ids = send_wave(BOUNCE, COMPLAINT, SUCCESS)
    bounced, complained, delivered = ids

    # When SES reports a permanent bounce, a delivery then a complaint, and a delivery
    assert handle(ses_event("Bounce", email_of(bounced))) == {"outcome": "bounced"}
    assert handle(ses_event("Delivery", email_of(complained))) == {"outcome": "delivered"}
    assert handle(ses_event("Complaint", email_of(complained))) == {"outcome": "complained"}
    assert handle(ses_event("Delivery", email_of(delivered))) == {"outcome": "delivered"}

    # Then the first two addresses are suppressed for SES's reasons, the third is not
    stored = Suppression.get(email_hash(BOUNCE), consistent_read=True)
    assert (stored.reason, stored.source, stored.invitation_id) == ("bounce", "ses", bounced)
    stored = Suppression.get(email_hash(COMPLAINT), consistent_read=True)
    assert (stored.reason, stored.source, stored.invitation_id) == ("complaint", "ses", complained)
    assert Suppression.count(email_hash(SUCCESS)) == 0
    # and the invitations say what happened
    first = invitation(bounced)
    assert (first.status, first.bounce_type, first.first.bounce_type) == ("bounced", "Permanent", "Permanent")
    assert first.bounced_at is not None
    assert first.delivered_at is None
    second = invitation(complained)
    assert (second.status, second.complained_at is not None) == ("delivered", True)
    assert invitation(delivered).status == "delivered"

    # When a later wave to the same segment is planned
    later = new_wave(START, segments=["pharmacy"])
    start(later)

    # Then it skips the two suppressed addresses and reserves the third
    by_contact = {item.contact_id: item for item in invitations_of(later)}
    contact_of = {invitation_id: invitation(invitation_id).contact_id for invitation_id in ids}
    assert by_contact[contact_of[bounced]].skip_reason == "suppressed"
    assert by_contact[contact_of[complained]].skip_reason == "suppressed"
    assert by_contact[contact_of[delivered]].status == "reserved"
    assert Wave.get(later.wave_id).skipped_suppressed == 2


def test_a_transient_bounce_is_recorded_and_suppresses_nothing(ready: Any) -> None:
    _, (invitation_id,) = send_wave("anne@pharmacie-exemple.fr")

    answer = handle(ses_event("Bounce", email_of(invitation_id), bounceType="Transient", bounceSubType="MailboxFull"))

    assert answer == {"outcome": "soft_bounce"}
    assert Suppression.count(email_hash("anne@pharmacie-exemple.fr")) == 0
    stored = invitation(invitation_id)
    assert (stored.status, stored.bounce_type, stored.bounced_at) == ("sent", "Transient", None)


def test_a_permanent_bounce_after_a_transient_one_suppresses_and_a_softer_one_never_replaces_it(ready: Any) -> None:
    _, (invitation_id,) = send_wave("paul@officine.example")
    message = email_of(invitation_id)

    handle(ses_event("Bounce", message, bounceType="Transient"))
    handle(ses_event("Bounce", message, bounceType="Permanent"))
    late = handle(ses_event("Bounce", message, bounceType="Undetermined"))

    assert late == {"outcome": "repeated"}
    stored = invitation(invitation_id)
    assert (stored.status, stored.bounce_type) == ("bounced", "Permanent")
    assert Suppression.get(email_hash("paul@officine.example")).reason == "bounce"


def test_a_complaint_about_an_address_already_unsubscribed_keeps_the_first_reason(ready: Any) -> None:
    _, (invitation_id,) = send_wave("lea@pharmacie.example")
    suppress(email_hash("lea@pharmacie.example"), reason="unsubscribe", source="link", invitation_id=invitation_id)

    assert handle(ses_event("Complaint", email_of(invitation_id))) == {"outcome": "complained"}

    stored = Suppression.get(email_hash("lea@pharmacie.example"), consistent_read=True)
    assert (stored.reason, stored.source) == ("unsubscribe", "link")
    assert invitation(invitation_id).complained_at is not None


def test_a_reject_is_counted_and_changes_nothing(ready: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, (invitation_id,) = send_wave("anne@pharmacie-exemple.fr")
    before = invitation(invitation_id)
    capsys.readouterr()

    answer = handle(ses_event("Reject", email_of(invitation_id)))

    assert answer == {"outcome": "rejected"}
    assert emitted(capsys.readouterr().out).get("ses_rejects") == 1
    assert Suppression.count(email_hash("anne@pharmacie-exemple.fr")) == 0
    after = invitation(invitation_id)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)


# ------------------------------------------------------------------ deliveries and the counters


def test_a_delivery_marks_the_invitation_delivered_once_and_the_counters_count_it_once_in_every_scope(
    ready: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a wave sent to a French and an English contact, the Invitations stream read from its start
    stream = invitations_stream()
    wave, (french, english) = send_wave("anne@pharmacie.example", "james@northgate.example", languages=("fr", "en"))
    delivery = ses_event("Delivery", email_of(french))
    capsys.readouterr()

    # When SES reports the French email delivered, twice (at-least-once), and the stream is applied,
    # its records handed over twice
    first, again = handle(delivery), handle(delivery)
    records = stream.read()
    assert apply_counters(records) == {"batchItemFailures": []}
    assert apply_counters(records) == {"batchItemFailures": []}

    # Then the invitation is delivered, at SES's delivery time, once
    assert (first, again) == ({"outcome": "delivered"}, {"outcome": "repeated"})
    stored = invitation(french)
    assert stored.status == "delivered"
    assert stored.delivered_at == stored.first.delivered_at
    assert stored.delivered_at.isoformat().startswith("2026-03-02T08:15:02")
    assert invitation(english).status == "sent"
    # and the delivery is counted once in each of the 9 survey scopes, and on the wave
    month = wave.month
    for scope in (
        "all",
        f"wave#{wave.wave_id}",
        "segment#pharmacy",
        "language#fr",
        f"month#{month}",
        f"month#{month}/segment#pharmacy",
        f"month#{month}/language#fr",
        f"wave#{wave.wave_id}/segment#pharmacy",
        f"wave#{wave.wave_id}/language#fr",
    ):
        assert mail_item(scope)["delivered"] == 1, scope
    assert mail_item("language#en").get("delivered", 0) == 0
    assert mail_item("all")["sent"] == 2
    assert Wave.get(wave.wave_id, consistent_read=True).delivered == 1
    assert verify_mail() == []
    # and the metric counts one delivery
    assert emitted(capsys.readouterr().out).get("ses_deliveries") == 1


def test_a_response_before_the_delivery_event_keeps_its_delivery_time(ready: Any) -> None:
    # Given an invitation marked delivered by its first response (capture does it), at 09:00
    _, (invitation_id,) = send_wave("anne@pharmacie.example")
    answered = clock.now() - timedelta(minutes=5)
    stored = invitation(invitation_id)
    stored.update(actions=[Invitation.delivered_at.set(answered)], add_version_condition=False)

    # When the delivery event arrives later
    handle(ses_event("Delivery", email_of(invitation_id)))

    # Then the first time stays; the email's own delivery is recorded on its step
    after = invitation(invitation_id)
    assert after.delivered_at == stored.delivered_at
    assert after.first.delivered_at is not None


def test_the_counters_follow_bounces_complaints_and_unsubscribes(ready: Any) -> None:
    stream = invitations_stream()
    wave, (bounced, complained, unsubscribed) = send_wave(BOUNCE, COMPLAINT, "lea@pharmacie.example")

    handle(ses_event("Bounce", email_of(bounced)))
    handle(ses_event("Delivery", email_of(complained)))
    handle(ses_event("Complaint", email_of(complained)))
    Invitation(unsubscribed).update(
        actions=[Invitation.unsubscribed_at.set(clock.now()), Invitation.unsubscribe_source.set("link")],
        add_version_condition=False,
    )
    assert apply_counters(stream.read()) == {"batchItemFailures": []}

    counts = mail_item(f"wave#{wave.wave_id}")
    assert {name: counts.get(name, 0) for name in ("delivered", "bounced", "complained", "unsubscribed")} == {
        "delivered": 1,
        "bounced": 1,
        "complained": 1,
        "unsubscribed": 1,
    }
    stored = Wave.get(wave.wave_id, consistent_read=True)
    assert (stored.delivered, stored.bounced, stored.complained, stored.unsubscribed) == (1, 1, 1, 1)
    assert verify_mail() == []


# ------------------------------------------------------------------ uncertain sends


def test_a_crash_that_left_an_uncertain_send_is_settled_by_its_delivery_event(
    ready: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sender that died after SES accepted two emails, before recording them: a redelivery
    # of the message marked both uncertain (docs/dispatch.md), and the wave counts them so
    wave = make_wave(planning_done=True, reserved=2)
    batch_id, ids = reserve(wave, [make_contact("anne@pharmacie.example"), make_contact("paul@officine.example")])
    spy_ses()
    record = sending._record

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the function died before recording what SES accepted")

    monkeypatch.setattr(sending, "_record", crash)
    deliver(body(wave, batch_id, ids))
    monkeypatch.setattr(sending, "_record", record)
    deliver(body(wave, batch_id, ids))
    ledger = LedgerStream()
    ledger.apply()
    assert {invitation(i).status for i in ids} == {"uncertain"}
    stored = Wave.get(wave.wave_id, consistent_read=True)
    assert (stored.uncertain, stored.sent, stored.status) == (2, 0, "sent")
    capsys.readouterr()

    # When SES's delivery event of the first email arrives, then dispatch_ledger reads the ledger
    answer = handle(ses_event("Delivery", email_of(ids[0])))
    ledger.apply()

    # Then the ledger holds it sent, with SES's message id and no error
    assert answer == {"outcome": "delivered"}
    outcome = SendBatch.get(batch_id, consistent_read=True).outcomes.as_dict()[ids[0]]
    assert (outcome["state"], outcome["settled_by"], outcome.get("error")) == ("sent", "ses", None)
    assert outcome["message_id"] == "0102019a-lost-answer-000000"
    # and the invitation is sent and delivered, the other one still uncertain
    settled = invitation(ids[0])
    assert (settled.first.state, settled.status, settled.first.message_id) == (
        "sent",
        "delivered",
        "0102019a-lost-answer-000000",
    )
    assert settled.email_hash == email_hash("anne@pharmacie.example")
    assert invitation(ids[1]).status == "uncertain"
    # and the wave's counts moved the email from uncertain to sent
    stored = Wave.get(wave.wave_id, consistent_read=True)
    assert (stored.uncertain, stored.sent, stored.finished) == (1, 1, 2)
    assert emitted(capsys.readouterr().out).get("ses_uncertain_settled") == 1


def test_a_delivery_event_before_the_crash_is_known_settles_the_uncertain_mark_when_it_comes(
    ready: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sender that died after SES accepted the email, before recording it
    wave = make_wave(planning_done=True, reserved=1)
    batch_id, ids = reserve(wave, [make_contact("anne@pharmacie.example")])
    spy_ses()
    record = sending._record

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the function died before recording what SES accepted")

    monkeypatch.setattr(sending, "_record", crash)
    deliver(body(wave, batch_id, ids))
    monkeypatch.setattr(sending, "_record", record)

    # When SES's delivery event comes first (seconds later), and only then SQS redelivers the
    # message (after its visibility timeout), which marks the email uncertain
    answer = handle(ses_event("Delivery", email_of(ids[0])))
    deliver(body(wave, batch_id, ids))
    ledger = LedgerStream()
    ledger.apply()
    ledger.apply()  # the settlement dispatch_ledger wrote on the ledger, in turn

    # Then the mark was settled: the email is sent and delivered, and the wave counts it sent
    assert answer == {"outcome": "delivered"}
    outcome = SendBatch.get(batch_id, consistent_read=True).outcomes.as_dict()[ids[0]]
    assert (outcome["state"], outcome["settled_by"]) == ("sent", "ses")
    stored = invitation(ids[0])
    assert (stored.first.state, stored.status) == ("sent", "delivered")
    counts = Wave.get(wave.wave_id, consistent_read=True)
    assert (counts.uncertain, counts.sent, counts.finished) == (0, 1, 1)


def test_a_delivery_event_that_overtakes_the_ledger_leaves_the_invitation_delivered(ready: Any) -> None:
    # Given an email SES accepted, its outcome recorded on the ledger but not yet on the invitation
    wave = make_wave(planning_done=True, reserved=1)
    batch_id, ids = reserve(wave, [make_contact("anne@pharmacie.example")])
    spy_ses()
    deliver(body(wave, batch_id, ids))
    assert invitation(ids[0]).first.state == "reserved"

    # When the delivery event is handled before dispatch_ledger reads the ledger's stream
    handle(ses_event("Delivery", email_of(ids[0])))
    LedgerStream().apply()

    # Then the invitation ends sent and delivered, counted once
    stored = invitation(ids[0])
    assert (stored.first.state, stored.status) == ("sent", "delivered")
    assert stored.delivered_at is not None
    assert Wave.get(wave.wave_id, consistent_read=True).sent == 1


def test_a_send_event_settles_an_uncertain_send_and_a_second_one_changes_nothing(ready: Any) -> None:
    wave = make_wave(planning_done=True, reserved=1)
    batch_id, ids = reserve(wave, [make_contact("anne@pharmacie.example")])
    spy_ses(lambda _n, _i: Injected(lose_answer=True))  # SES sent it; its answer was lost
    deliver(body(wave, batch_id, ids))
    ledger = LedgerStream()
    ledger.apply()
    assert invitation(ids[0]).status == "uncertain"
    event = ses_event("Send", email_of(ids[0]))

    assert handle(event) == {"outcome": "sent"}
    ledger.apply()
    assert handle(event) == {"outcome": "sent"}
    ledger.apply()

    stored = invitation(ids[0])
    assert (stored.status, stored.first.state, stored.first.error) == ("sent", "sent", None)
    counts = Wave.get(wave.wave_id, consistent_read=True)
    assert (counts.uncertain, counts.sent, counts.finished) == (0, 1, 1)


# ------------------------------------------------------------------ events that name nothing of ours


def test_an_event_of_an_invitation_that_does_not_exist_is_dropped_cleanly(
    ready: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = ses_event("Bounce")  # the sample names an invitation that was never written here

    answer = handle(event)

    assert answer == {"outcome": "unknown_invitation"}
    assert Suppression.count(email_hash("anne.martin@pharmacie-exemple.fr")) == 0
    assert emitted(capsys.readouterr().out).get("ses_events_unmatched") == 1


def test_an_event_of_an_email_that_is_not_a_survey_email_is_counted_and_left_alone(
    ready: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = ses_event("Bounce")
    mail = event["detail"]["mail"]
    mail["headers"] = [h for h in mail["headers"] if not h["name"].startswith("X-Closeloop")]

    answer = handle(event)

    assert answer == {"outcome": "not_survey"}
    assert Suppression.count(email_hash("anne.martin@pharmacie-exemple.fr")) == 0
    assert emitted(capsys.readouterr().out).get("ses_events_unmatched") == 1


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"detail-type": "Email Bounced", "source": "aws.ses", "detail": "not a map"},
        {"detail-type": "Email Bounced", "source": "aws.ses", "detail": {"eventType": "Bounce", "mail": []}},
        {"detail-type": "Something else", "source": "aws.ses", "detail": {"eventType": "Open", "mail": {"x": 1}}},
    ],
)
def test_an_event_that_cannot_be_read_is_dropped_without_an_error(ready: Any, event: dict[str, Any]) -> None:
    assert handle(event) == {"outcome": "unreadable"}

"""Replies into cases: a customer's mail to the reply address of the fallback email (a `case`
token) or of the survey email (an `invitation` token whose response opened a case) lands on the
case, as SES's receipt rule hands it to the inbound function: the message on the thread, the
case's reply count and last reply, and its first exchange `reply` with its delays when it had none.
Auto-replies and unsubscribe requests are not exchanges (docs/callbacks.md "Exchanges")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closeloop import clock
from closeloop.models import Case, Invitation
from closeloop.services import domain_events
from closeloop.services.capture import record_response
from closeloop.tokens import generate_reply_token, reply_address, reply_token_item, unsubscribe_address
from closeloop_local.template import ResolvedTemplate
from tests.integration.cases_support import add_caller, add_contact, case_of, fresh_ledger, invitation_for, stored
from tests.integration.dispatch import make_wave
from tests.integration.imports_support import as_function
from tests.integration.inbound_support import mail, messages_of, receive
from tests.integration.responses_support import apply_flow, responses_stream

ANSWERED = datetime(2027, 3, 5, 15, 0, tzinfo=UTC)  # Friday 5 March 2027, 16:00 in Paris
REPLIED = datetime(2027, 3, 8, 10, 30, tzinfo=UTC)  # Monday 11:30 in Paris: 2.5 + 2.5 business hours later
CUSTOMER = "anne.martin@pharmacie.example"


@pytest.fixture
def system(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process as response_flow (to open cases) and as the inbound function."""
    as_function(stack, monkeypatch, "ResponseFlowFunction")
    as_function(stack, monkeypatch, "InboundFunction")
    monkeypatch.setattr(domain_events.time, "sleep", lambda _seconds: None)
    clock.set_state(frozen_at=ANSWERED)
    fresh_ledger()
    return stack


def opened_case(score: int = 3) -> tuple[Invitation, Case]:
    """A contact answered (a detractor by default) and response_flow opened their case."""
    add_caller("hugo.bernard@closeloop.example")
    stream = responses_stream()
    invitation = invitation_for(make_wave().wave_id, add_contact())
    record_response(invitation.invitation_id, score, "Rien ne va.")
    assert apply_flow(stream.read()) == {"batchItemFailures": []}
    return invitation, case_of(invitation.invitation_id)


def token_for(kind: str, object_id: str) -> str:
    token = generate_reply_token()
    reply_token_item(token, kind, object_id, step="fallback" if kind == "case" else "first").save()  # type: ignore[arg-type]
    return token


def test_a_reply_to_the_fallback_email_is_the_cases_first_exchange(system: Any) -> None:
    invitation, case = opened_case()
    assert case.next_timer_step == "remind"
    token = token_for("case", case.case_id)

    clock.set_state(frozen_at=REPLIED)
    answer = receive(mail(CUSTOMER, reply_address(token), "Oui, appelez-moi demain matin."), reply_address(token))

    assert answer["outcomes"] == ["reply"]
    after = stored(case.case_id)
    assert (after["reply_count"], after["first_exchange_kind"]) == ("1", "reply")
    assert after["first_exchange_at"] == after["last_reply_at"] == "2027-03-08T10:30:00.000000+0000"
    # Friday 16:00 -> Monday 11:30: 67.5 hours, of which 2 + 2.5 business hours
    assert (after["first_delay_h"], after["first_delay_bh"]) == ("67.5", "4.5")
    assert {"timer_shard", "next_timer_at", "next_timer_step"}.isdisjoint(after)  # the SLA is met
    assert after["status"] == "open"  # the caller still records what was said and promised
    assert int(after["version"]) == case.version + 1
    [message] = messages_of(case.case_id)
    assert (message.kind, message.direction, message.body) == ("reply", "in", "Oui, appelez-moi demain matin.")
    assert message.attention is None  # on a case, its assignee reads it (message_flow tells them)
    assert Invitation.get(invitation.invitation_id).reply_count == 1


def test_a_reply_to_the_survey_email_after_the_response_lands_on_the_case(system: Any) -> None:
    invitation, case = opened_case(score=9)
    token = token_for("invitation", invitation.invitation_id)

    clock.set_state(frozen_at=REPLIED)
    receive(mail(CUSTOMER, reply_address(token), "Merci pour votre service, continuez !"), reply_address(token))

    after = case_of(case.case_id)
    assert (after.reply_count, after.first_exchange_kind, after.first_exchange_at) == (1, "reply", REPLIED)


def test_a_second_reply_counts_but_keeps_the_first_exchange(system: Any) -> None:
    _invitation, case = opened_case()
    token = token_for("case", case.case_id)
    clock.set_state(frozen_at=REPLIED)
    receive(mail(CUSTOMER, reply_address(token), "Premier message."), reply_address(token))

    clock.set_state(frozen_at=REPLIED + timedelta(days=1))
    receive(mail(CUSTOMER, reply_address(token), "Je reviens vers vous."), reply_address(token))

    after = case_of(case.case_id)
    assert (after.reply_count, after.first_exchange_at) == (2, REPLIED)
    assert after.last_reply_at == REPLIED + timedelta(days=1)
    assert float(after.first_delay_h or 0) == 67.5


def test_the_same_mail_delivered_twice_counts_once(system: Any) -> None:
    _invitation, case = opened_case()
    token = token_for("case", case.case_id)
    clock.set_state(frozen_at=REPLIED)
    raw = mail(CUSTOMER, reply_address(token), "Rappelez-moi.")

    receive(raw, reply_address(token), message_id="ses-once")
    again = receive(raw, reply_address(token), message_id="ses-once")

    assert again["outcomes"] == ["repeated"]
    assert case_of(case.case_id).reply_count == 1
    assert len(messages_of(case.case_id)) == 1


def test_a_call_logged_first_stays_the_first_exchange(system: Any) -> None:
    _invitation, case = opened_case()
    called = ANSWERED + timedelta(hours=1)
    case.update(
        actions=[
            Case.first_exchange_at.set(called),
            Case.first_exchange_kind.set("call"),
            Case.first_delay_h.set(1),
            Case.first_delay_bh.set(1),
        ],
        add_version_condition=False,
    )
    token = token_for("case", case.case_id)

    clock.set_state(frozen_at=REPLIED)
    receive(mail(CUSTOMER, reply_address(token), "Suite à notre appel."), reply_address(token))

    after = case_of(case.case_id)
    assert (after.first_exchange_kind, after.first_exchange_at, after.reply_count) == ("call", called, 1)


def test_an_auto_reply_or_an_unsubscribe_is_no_exchange(system: Any) -> None:
    _invitation, case = opened_case()
    token = token_for("case", case.case_id)
    clock.set_state(frozen_at=REPLIED)

    away = mail(
        CUSTOMER, reply_address(token), "Je suis absente.", subject="Absence du bureau", Auto_Submitted="auto-replied"
    )
    assert receive(away, reply_address(token))["outcomes"] == ["auto_reply"]
    stop = mail(CUSTOMER, unsubscribe_address(token), "")
    assert receive(stop, unsubscribe_address(token))["outcomes"] == ["unsubscribe"]

    after = stored(case.case_id)
    assert {"first_exchange_at", "last_reply_at"}.isdisjoint(after)
    assert after["reply_count"] == "0"
    assert after["next_timer_step"] == "remind"  # the SLA still runs


def test_a_reply_that_mentions_stopping_waits_for_a_person_on_the_case(system: Any) -> None:
    _invitation, case = opened_case()
    token = token_for("case", case.case_id)
    clock.set_state(frozen_at=REPLIED)

    text = "Vous pouvez m'appeler, mais arrêtez de m'appeler le midi s'il vous plaît."
    receive(mail(CUSTOMER, reply_address(token), text), reply_address(token))

    [message] = messages_of(case.case_id)
    assert (message.flags, message.attention) == ({"unsubscribe_mention"}, "open")
    assert case_of(case.case_id).first_exchange_kind == "reply"


def test_a_reply_before_any_response_stays_on_the_invitation(system: Any) -> None:
    invitation = invitation_for(make_wave().wave_id, add_contact())
    token = token_for("invitation", invitation.invitation_id)

    receive(mail(CUSTOMER, reply_address(token), "Je ne comprends pas ce mail."), reply_address(token))

    [message] = messages_of(invitation.invitation_id)
    assert message.attention == "open"
    assert Invitation.get(invitation.invitation_id).reply_count == 1
    with pytest.raises(Case.DoesNotExist):
        Case.get(invitation.invitation_id)

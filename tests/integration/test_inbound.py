"""Inbound mail: a customer's mail to a survey's reply or unsubscribe address, as SES's receipt rule
hands it over (raw message under inbound/, then the receipt event), becomes a reply on the
survey's thread, an auto-reply logged on the contact, an unsubscribe, or a quarantined mail with
its reason; managers list the quarantine, staff read a response with its mail, and message_flow
publishes CustomerReplied.

Surveys are sent for real (planner, sender, dispatch_ledger against moto): replies go to the
Reply-To and the List-Unsubscribe mailto address of the emails SES accepted.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynamodb.exceptions import TransactWriteError

from closeloop import clock
from closeloop.models import Contact, Message, Quarantine, Suppression
from closeloop.services import domain_events, inbound, quarantine
from closeloop.services.capture import record_response
from closeloop.services.directory import add_staff
from closeloop.settings import get_settings
from closeloop.tokens import generate_reply_token, reply_address, reply_token_item
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import sent_messages
from tests.integration.imports_support import as_function
from tests.integration.inbound_support import (
    invitation_to,
    mail,
    mailto_unsubscribe,
    messages_of,
    quarantined,
    raw_object,
    receive,
    reply_to,
)
from tests.integration.planning_support import START, add_contacts, invitations_of, new_wave, start
from tests.integration.responses_support import bus_subscriber, cancelled_transactions
from tests.integration.streams import TableStream
from tests.integration.surveys import send_queued, survey
from tests.support import ROOT, LambdaContext, load_event, load_handler

FUNCTIONS = ("WavesApiFunction", "WaveScheduleFunction", "SenderFunction", "DispatchLedgerFunction")
OUTLOOK_FR = ROOT / "tests" / "unit" / "mail" / "outlook_fr_alternative_qp.eml"
CLAIRE = "claire.martin@demo.closeloop.example"  # manager
NADIA = "nadia.roux@demo.closeloop.example"  # manager
HUGO = "hugo.bernard@demo.closeloop.example"  # caller
STRANGER = "someone.else@elsewhere.example"

admin_api = load_handler("admin_api")
responses_api = load_handler("responses_api")
message_flow = load_handler("message_flow")


@pytest.fixture
def system(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process configured as the sending functions and the inbound function."""
    for function in FUNCTIONS:
        as_function(stack, monkeypatch, function)
    as_function(stack, monkeypatch, "InboundFunction")
    as_function(stack, monkeypatch, "MessageFlowFunction")  # the reply notice goes to the mail queue
    monkeypatch.setenv("MAX_SEND_RATE", "1000")
    monkeypatch.setattr(domain_events.time, "sleep", lambda _seconds: None)
    get_settings.cache_clear()
    return stack


@pytest.fixture
def surveyed(system: ResolvedTemplate) -> Contact:
    """One contact whose survey email went out."""
    [contact] = add_contacts(1)
    survey(system)
    return contact


def outlook_reply(sender: str) -> bytes:
    """The French Outlook reply of tests/unit/mail (quoted-printable, HTML alternative), from `sender`."""
    return Path(OUTLOOK_FR).read_bytes().replace(b"jean.dupont@pharmacie-centre.fr", sender.encode())


def messages_client() -> Any:
    """The botocore client the inbound function's transactions go through (the Messages model's)."""
    return Message._get_connection().connection.client


def metric_names(output: str) -> set[str]:
    documents = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    return {
        metric["Name"]
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


# ------------------------------------------------------------------ replies


def test_a_reply_is_attached_to_its_invitation_with_its_new_text_only(
    surveyed: Contact, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the customer replies from Outlook, in French, to the survey email's Reply-To
    answer = receive(outlook_reply(surveyed.email), reply_to(surveyed.email))

    # Then the reply is on the survey's thread with its new text, without the quoted survey
    invitation = invitation_to(surveyed.email)
    [message] = messages_of(invitation.invitation_id)
    assert answer["outcomes"] == ["reply"]
    assert (message.direction, message.kind, message.attention) == ("in", "reply", "open")
    assert "Seul bémol : les délais de livraison en décembre." in (message.body or "")
    assert "Recommanderiez-vous" not in (message.body or "")
    assert "votre avis en une question" in (message.subject or "")
    assert message.from_contact is True
    assert message.message_key == f"{message.at.strftime('%Y-%m-%dT%H:%M:%S.%f+0000')}#{answer['message_id']}"
    assert message.s3_key == f"inbound/{answer['message_id']}"
    assert message.verdicts is not None
    assert message.verdicts.as_dict() == {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS"}
    # and the invitation knows the customer wrote back
    assert (invitation.replied_at, invitation.reply_count) == (clock.now(), 1)
    output = capsys.readouterr().out
    assert "inbound_replies" in metric_names(output)
    assert surveyed.email not in output  # logs carry ids, never the address,
    assert "délais" not in output  # the body
    assert "votre avis en une question" not in output  # nor the subject


def test_the_same_receipt_event_twice_stores_the_reply_once(surveyed: Contact) -> None:
    first = receive(outlook_reply(surveyed.email), reply_to(surveyed.email))

    # When SES's asynchronous invocation delivers the same event again
    again = receive(outlook_reply(surveyed.email), reply_to(surveyed.email), message_id=first["message_id"])

    invitation = invitation_to(surveyed.email)
    assert again["outcomes"] == ["repeated"]
    assert len(messages_of(invitation.invitation_id)) == 1
    assert invitation.reply_count == 1


def test_a_reply_from_another_address_is_attached_but_not_taken_for_the_contacts(surveyed: Contact) -> None:
    receive(
        mail(STRANGER, reply_to(surveyed.email), "Je réponds pour mon collègue : très satisfait."),
        reply_to(surveyed.email),
    )

    [message] = messages_of(invitation_to(surveyed.email).invitation_id)
    assert (message.kind, message.from_contact) == ("reply", False)
    assert message.body == "Je réponds pour mon collègue : très satisfait."


def test_an_auto_reply_is_logged_on_the_contact_and_is_not_a_reply(surveyed: Contact) -> None:
    text = "Je suis absente jusqu'au 12 janvier. Pour toute urgence, contactez la pharmacie."
    raw = mail(
        surveyed.email,
        reply_to(surveyed.email),
        text,
        subject="Réponse automatique : Votre avis",
        Auto_Submitted="auto-replied",
    )

    answer = receive(raw, reply_to(surveyed.email))

    invitation = invitation_to(surveyed.email)
    [message] = messages_of(invitation.invitation_id)
    assert answer["outcomes"] == ["auto_reply"]
    assert (message.kind, message.attention) == ("auto_reply", None)
    assert Contact.get(surveyed.contact_id, consistent_read=True).last_auto_reply_at == clock.now()
    assert (invitation.replied_at, invitation.reply_count) == (None, None)


def test_a_longer_reply_that_mentions_stopping_is_attached_and_flagged_and_unsubscribes_nobody(
    surveyed: Contact,
) -> None:
    text = "Très bon suivi dans l'ensemble, mais arrêtez de m'appeler le midi, je suis au comptoir."

    receive(mail(surveyed.email, reply_to(surveyed.email), text), reply_to(surveyed.email))

    [message] = messages_of(invitation_to(surveyed.email).invitation_id)
    assert (message.kind, message.attention, message.flags) == ("reply", "open", {"unsubscribe_mention"})
    assert Suppression.count() == 0
    assert invitation_to(surveyed.email).unsubscribed_at is None


def test_a_reply_whose_transaction_meets_conflicts_is_tried_again_and_lands_once(
    surveyed: Contact, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbound.time, "sleep", lambda _seconds: None)

    # Given DynamoDB cancels the first two tries for a concurrent write (moto never does)
    with cancelled_transactions(messages_client(), times=2) as cancelled:
        answer = receive(outlook_reply(surveyed.email), reply_to(surveyed.email))

    invitation = invitation_to(surveyed.email)
    assert (answer["outcomes"], cancelled) == (["reply"], [2, 2])
    assert len(messages_of(invitation.invitation_id)) == 1
    assert invitation.reply_count == 1


def test_conflicts_that_persist_fail_the_event_for_ses_to_retry_and_leave_nothing_half_written(
    surveyed: Contact, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbound.time, "sleep", lambda _seconds: None)
    with cancelled_transactions(messages_client(), times=inbound.ATTEMPTS), pytest.raises(TransactWriteError):
        receive(outlook_reply(surveyed.email), reply_to(surveyed.email), message_id="ses-retried-event")
    assert messages_of(invitation_to(surveyed.email).invitation_id) == []
    assert invitation_to(surveyed.email).reply_count is None

    # When Lambda's asynchronous retry delivers the event again
    again = receive(outlook_reply(surveyed.email), reply_to(surveyed.email), message_id="ses-retried-event")

    assert again["outcomes"] == ["reply"]
    assert invitation_to(surveyed.email).reply_count == 1


# ------------------------------------------------------------------ unsubscribes by mail


def test_a_reply_that_only_says_stop_suppresses_the_address_the_survey_went_to(surveyed: Contact) -> None:
    # Given a reply that only says STOP, from an address that is not the contact's (anyone can write From)
    answer = receive(mail(STRANGER, reply_to(surveyed.email), "STOP"), reply_to(surveyed.email))

    # Then the address the survey went to is suppressed, never the From address
    invitation = invitation_to(surveyed.email)
    [suppression] = list(Suppression.scan(consistent_read=True))
    assert answer["outcomes"] == ["unsubscribe"]
    assert suppression.email_hash == surveyed.email_hash == invitation.email_hash
    assert (suppression.reason, suppression.source, suppression.invitation_id) == (
        "unsubscribe",
        "reply",
        invitation.invitation_id,
    )
    assert (invitation.unsubscribed_at, invitation.unsubscribe_source) == (clock.now(), "reply")
    [message] = messages_of(invitation.invitation_id)
    assert (message.kind, message.attention) == ("unsubscribe_request", None)


def test_a_mail_to_the_mailto_unsubscribe_address_suppresses_and_a_later_wave_skips_the_contact(
    system: ResolvedTemplate,
) -> None:
    # Given two contacts surveyed, one of whom unsubscribes through the List-Unsubscribe mailto address
    leaving, staying = add_contacts(2)
    first_wave = survey(system)
    address = mailto_unsubscribe(leaving.email)
    assert address.startswith("unsubscribe+")
    receive(mail(leaving.email, address, "", subject="unsubscribe"), address)
    [suppression] = list(Suppression.scan(consistent_read=True))
    assert (suppression.email_hash, suppression.source) == (leaving.email_hash, "mailto")
    mailed = len(sent_messages())

    # When a new wave to their segment starts four months later
    later = new_wave(START + timedelta(days=125))
    start(later)
    send_queued(system)

    # Then only the other contact gets the new email
    skipped = {i.contact_id: i.skip_reason for i in invitations_of(later)}
    assert skipped[leaving.contact_id] == "suppressed"
    assert [m["To"] for m in sent_messages()[mailed:]] == [staying.email]
    assert first_wave.wave_id != later.wave_id


def test_an_unsubscribe_mail_for_an_address_already_suppressed_keeps_the_first_reason_and_the_mail(
    surveyed: Contact,
) -> None:
    Suppression(surveyed.email_hash, reason="bounce", source="ses").save()

    answer = receive(mail(surveyed.email, reply_to(surveyed.email), "Désinscrire"), reply_to(surveyed.email))

    assert answer["outcomes"] == ["unsubscribe"]
    assert Suppression.get(surveyed.email_hash).reason == "bounce"
    invitation = invitation_to(surveyed.email)
    assert invitation.unsubscribe_source == "reply"
    assert [m.kind for m in messages_of(invitation.invitation_id)] == ["unsubscribe_request"]


# ------------------------------------------------------------------ quarantine


def expired_address(surveyed: Contact) -> str:
    token = generate_reply_token()
    item = reply_token_item(token, "invitation", invitation_to(surveyed.email).invitation_id, step="first")
    item.expires_at = clock.now() - timedelta(days=1)
    item.save()
    return reply_address(token)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no token", "no_token"),
        ("unknown token", "unknown_token"),
        ("expired token", "expired_token"),
        ("spam verdict", "spam"),
        ("virus verdict", "virus"),
        ("no header at all", "unparseable"),
        ("over 10 MB", "too_large"),
    ],
)
def test_mail_that_cannot_be_processed_is_quarantined_with_its_reason_and_its_raw_copy(
    surveyed: Contact, case: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    domain = get_settings().reply_domain
    recipient = reply_to(surveyed.email)
    raw = mail(surveyed.email, recipient, "Bonjour, tout va bien.")
    verdicts: dict[str, str] = {}
    if case == "no token":
        recipient = f"contact@{domain}"
    elif case == "unknown token":
        recipient = f"reply+abcdefgh2345@{domain}"
    elif case == "expired token":
        recipient = expired_address(surveyed)
    elif case == "spam verdict":
        verdicts = {"spam": "FAIL"}
    elif case == "virus verdict":
        verdicts = {"virus": "FAIL"}
    elif case == "no header at all":
        raw = b"\r\n\r\n\x00\x01 just bytes"
    else:
        raw = raw + b"x" * (10 * 1024 * 1024)

    answer = receive(raw, recipient, verdicts=verdicts)

    item = quarantined(answer["message_id"])
    assert answer["outcomes"] == ["quarantined"]
    assert (item.reason, item.size) == (reason, len(raw))
    assert item.s3_key == f"quarantine/{answer['message_id']}"
    assert raw_object(item.s3_key) == raw
    assert item.received_month == clock.now().strftime("%Y-%m")
    assert item.expires_at == clock.now() + timedelta(days=30)
    assert messages_of(invitation_to(surveyed.email).invitation_id) == []
    assert Suppression.count() == 0
    output = capsys.readouterr().out
    assert {"inbound_quarantined", f"inbound_quarantined_{reason}"} <= metric_names(output)
    assert surveyed.email not in output  # no address in the logs


def test_a_quarantined_mail_delivered_twice_is_one_item(surveyed: Contact) -> None:
    raw = mail(surveyed.email, "x", "Bonjour")
    first = receive(raw, f"contact@{get_settings().reply_domain}")
    again = receive(raw, f"contact@{get_settings().reply_domain}", message_id=first["message_id"])

    assert again["outcomes"] == ["repeated"]
    assert [item.quarantine_id for item in Quarantine.scan()] == [first["message_id"]]


def test_a_receipt_whose_raw_mail_is_missing_is_quarantined_as_unparseable(surveyed: Contact) -> None:
    raw = mail(surveyed.email, reply_to(surveyed.email), "Bonjour")
    answer = receive(raw, reply_to(surveyed.email), stored=False)

    item = quarantined(answer["message_id"])
    assert (item.reason, item.s3_key, item.size) == ("unparseable", None, 0)
    assert item.subject == "Re: Votre avis compte pour nous"


def test_an_event_that_is_not_an_ses_receipt_writes_nothing_and_does_not_fail(
    system: ResolvedTemplate, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = load_handler("inbound")

    answers = [handler(event, LambdaContext()) for event in ({}, {"Records": [{"eventSource": "aws:ses"}]})]

    assert [answer["outcomes"] for answer in answers] == [["ignored"], ["ignored"]]
    assert Quarantine.count() == 0
    assert Message.count() == 0
    assert "inbound_malformed_events" in metric_names(capsys.readouterr().out)


# ------------------------------------------------------------------ the quarantine API


def call(handler: Any, method: str, route: str, path: str, *, who: str, groups: str, **kwargs: Any) -> Any:
    """A function's answer to one request, as API Gateway hands it over: (status, JSON body)."""
    event = load_event("http/me.json")
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = kwargs.pop("path_parameters", None)
    event["queryStringParameters"] = kwargs.pop("query", None)
    event["headers"]["accept-language"] = kwargs.pop("language", "en")
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    claims.update({"email": who, "cognito:groups": groups})
    answer = handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def list_quarantine(who: str = CLAIRE, groups: str = "[caller manager]", **query: str) -> Any:
    return call(admin_api, "GET", "/quarantine", "/quarantine", who=who, groups=groups, query=query or None)


def handled(quarantine_id: str, who: str = CLAIRE) -> Any:
    route = "/quarantine/{quarantine_id}/handled"
    path = f"/quarantine/{quarantine_id}/handled"
    parameters = {"quarantine_id": quarantine_id}
    return call(admin_api, "POST", route, path, who=who, groups="[manager]", path_parameters=parameters)


@pytest.fixture
def staff(system: ResolvedTemplate) -> None:
    add_staff(email=CLAIRE, name="Claire Martin", groups={"caller", "manager"})
    add_staff(email=NADIA, name="Nadia Roux", groups={"manager"})
    add_staff(email=HUGO, name="Hugo Bernard", groups={"caller"})


def quarantine_three(surveyed: Contact) -> list[str]:
    ids = []
    for minutes in range(3):
        clock.set_state(frozen_at=clock.now() + timedelta(minutes=minutes))
        ids.append(
            receive(mail(surveyed.email, "x", f"Mail {minutes}"), f"info@{get_settings().reply_domain}")["message_id"]
        )
    return ids


def test_a_manager_lists_the_months_quarantine_newest_first_with_reasons_in_their_language(
    surveyed: Contact, staff: None
) -> None:
    ids = quarantine_three(surveyed)

    status, page = list_quarantine(month=clock.now().strftime("%Y-%m"))
    status_fr, page_fr = call(
        admin_api, "GET", "/quarantine", "/quarantine", who=CLAIRE, groups="[manager]", language="fr"
    )

    assert status == status_fr == 200
    assert [item["id"] for item in page["items"]] == ids[::-1]
    newest = page["items"][0]
    assert (newest["reason"], newest["reason_text"], newest["handled"]) == (
        "no_token",
        "no reply token in the address",
        False,
    )
    assert newest["subject"] == "Re: Votre avis compte pour nous"
    assert newest["size"] > 0
    assert page_fr["items"][0]["reason_text"] == "adresse sans jeton de réponse"
    assert page["next"] is None


def test_the_quarantine_list_comes_in_pages(surveyed: Contact, staff: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quarantine, "PAGE_SIZE", 2)
    ids = quarantine_three(surveyed)

    _, first = list_quarantine()
    _, second = list_quarantine(next=first["next"])

    assert [item["id"] for item in first["items"] + second["items"]] == ids[::-1]
    assert second["next"] is None
    assert list_quarantine(next="not-a-cursor")[0] == 400
    assert list_quarantine(month="2027-13")[0] == 400


def test_a_caller_may_not_read_the_quarantine(surveyed: Contact, staff: None) -> None:
    status, body = list_quarantine(who=HUGO, groups="[caller]")

    assert status == 403
    assert body["error"] == "forbidden"


def test_a_manager_marks_a_quarantined_mail_handled_once(surveyed: Contact, staff: None) -> None:
    [first, *_] = quarantine_three(surveyed)

    status, item = handled(first)
    again_status, again = handled(first)
    other_status, other = handled(first, who=NADIA)

    assert (status, item["handled"], item["handled_at"]) == (200, True, clock.now().isoformat())
    assert (again_status, again["handled_by"]) == (200, item["handled_by"])
    assert other_status == 409
    assert other["details"]["handled_by"] == item["handled_by"]
    assert handled("no-such-mail")[0] == 404


# ------------------------------------------------------------------ a response and its mail


def show(response_id: str, who: str = HUGO, groups: str = "[caller]") -> Any:
    return call(
        responses_api,
        "GET",
        "/responses/{response_id}",
        f"/responses/{response_id}",
        who=who,
        groups=groups,
        path_parameters={"response_id": response_id},
    )


def test_a_caller_sees_a_response_with_the_reply_attached_to_it(surveyed: Contact, staff: None) -> None:
    invitation = invitation_to(surveyed.email)
    record_response(invitation.invitation_id, 4, "Livraisons en retard.")
    receive(outlook_reply(surveyed.email), reply_to(surveyed.email))

    status, shown = show(invitation.invitation_id)

    assert status == 200
    assert (shown["response"]["score"], shown["response"]["category"]) == (4, "detractor")
    assert shown["response"]["comment"] == "Livraisons en retard."
    [message] = shown["messages"]
    assert (message["kind"], message["direction"], message["attention"]) == ("reply", "in", "open")
    assert "les délais de livraison en décembre" in message["body"]
    assert shown["reply_count"] == 1


def test_a_reply_without_an_answer_shows_no_response_but_the_mail(surveyed: Contact, staff: None) -> None:
    receive(mail(surveyed.email, reply_to(surveyed.email), "Rappelez-moi plutôt."), reply_to(surveyed.email))

    status, shown = show(invitation_to(surveyed.email).invitation_id, who=CLAIRE, groups="[manager]")

    assert (status, shown["response"]) == (200, None)
    assert [m["body"] for m in shown["messages"]] == ["Rappelez-moi plutôt."]


def test_an_unknown_response_is_404(system: ResolvedTemplate, staff: None) -> None:
    assert show("a" * 26)[0] == 404


# ------------------------------------------------------------------ CustomerReplied


def test_a_reply_is_published_as_customer_replied_with_ids_and_flags_only(surveyed: Contact) -> None:
    stream = TableStream(get_settings().messages_table)
    text = "Bon service, mais arrêtez de m'appeler le midi s'il vous plaît, merci beaucoup."
    answer = receive(mail(surveyed.email, reply_to(surveyed.email), text), reply_to(surveyed.email))
    receive(
        mail(surveyed.email, reply_to(surveyed.email), "Absent", Auto_Submitted="auto-replied"),
        reply_to(surveyed.email),
    )
    invitation = invitation_to(surveyed.email)

    with bus_subscriber() as received:
        assert message_flow({"Records": stream.read()}, LambdaContext()) == {"batchItemFailures": []}
        [event] = received()

    assert (event["source"], event["detail-type"]) == ("closeloop", "CustomerReplied")
    detail = event["detail"]
    assert detail["event_id"].endswith(":CustomerReplied")
    assert (detail["message_id"], detail["thread_id"]) == (answer["message_id"], invitation.invitation_id)
    assert (detail["invitation_id"], detail["case_id"], detail["flags"]) == (
        invitation.invitation_id,
        None,
        ["unsubscribe_mention"],
    )
    published = json.dumps(event)
    assert "midi" not in published
    assert surveyed.email not in published


# ------------------------------------------------------------------ broken mail never crashes anything

_PIECES = st.sampled_from(
    [
        b"From: =?utf-8?B?broken\r\n",
        b"Subject: =?iso-8859-1?Q?=E9t=E9_?=\r\n",
        b'Content-Type: multipart/mixed; boundary="b"\r\n',
        b"Content-Type: text/plain; charset=x-unknown\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n',
        b"\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"=C3=A9=\r\n",
        b"\xff\xfe\x00bin\xc3",
        b"Auto-Submitted: auto-replied\r\n",
        b"STOP\r\n",
    ]
)
broken_mail = st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=25).map(b"".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=broken_mail)
def test_any_broken_mail_ends_as_one_message_or_one_quarantined_item_and_never_crashes(
    surveyed: Contact, raw: bytes
) -> None:
    answer = receive(raw, reply_to(surveyed.email))

    [outcome] = answer["outcomes"]
    thread = invitation_to(surveyed.email).invitation_id
    stored = [m for m in messages_of(thread) if m.message_id == answer["message_id"]]
    if outcome == "quarantined":
        assert quarantined(answer["message_id"]).reason == "unparseable"
        assert stored == []
    else:
        assert outcome in {"reply", "auto_reply", "unsubscribe"}
        [message] = stored
        assert len(message.body or "") <= 64 * 1024


def test_message_flow_publishes_only_incoming_replies_and_keeps_the_correlation_id(system: ResolvedTemplate) -> None:
    reply = load_event("dynamodb/messages-insert.json")
    auto_reply = load_event("dynamodb/messages-insert.json")
    auto_reply["Records"][0]["eventID"] = "another-record"
    auto_reply["Records"][0]["dynamodb"]["NewImage"]["kind"] = {"S": "auto_reply"}

    with bus_subscriber() as received:
        answer = message_flow({"Records": reply["Records"] + auto_reply["Records"]}, LambdaContext())
        [event] = received()

    assert answer == {"batchItemFailures": []}
    detail = event["detail"]
    assert detail["event_id"] == "9f1a6b0c2d3e4f5a6b7c8d9e0f1a2b3c:CustomerReplied"
    assert (detail["correlation_id"], detail["flags"]) == ("corr-inbound-0001", ["unsubscribe_mention"])
    assert "midi" not in json.dumps(event)

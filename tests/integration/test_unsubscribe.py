"""Unsubscribe: the page of the email's link, its POST and the RFC 8058 one-click POST of mail clients,
the undo of a mistaken click, and every later send honouring the suppression at once.

Invitations are sent for real (the planner, the sender and dispatch_ledger against moto), the
unsubscribe URL is taken from the List-Unsubscribe header of the email SES accepted, and the
unsubscribe function's handler gets the events API Gateway would hand it.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from closeloop.models import Contact, Invitation, Suppression, Wave
from closeloop.services import planning
from closeloop.settings import get_settings
from closeloop.tokens import survey_token, unsubscribe_token
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import LedgerStream, deliver, sent_messages
from tests.integration.imports_support import as_function
from tests.integration.planning_support import (
    START,
    add_contacts,
    at,
    drain_queue,
    invitations_of,
    new_wave,
    send_queue_url,
    start,
)
from tests.integration.surveys import send_queued, survey
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("unsubscribe")
ONE_CLICK = "List-Unsubscribe=One-Click"
FUNCTIONS = ("WavesApiFunction", "WaveScheduleFunction", "SenderFunction", "DispatchLedgerFunction")


@pytest.fixture
def system(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process configured as the wave, sending and unsubscribe functions, sending without pause."""
    for function in FUNCTIONS:
        as_function(stack, monkeypatch, function)
    as_function(stack, monkeypatch, "UnsubscribeFunction")
    monkeypatch.setenv("MAX_SEND_RATE", "1000")
    get_settings.cache_clear()
    return stack


# ------------------------------------------------------------------ helpers


def list_unsubscribe_url(address: str) -> str:
    """The https URL of the List-Unsubscribe header of the latest email SES accepted for `address`."""
    [message, *_] = [m for m in reversed(sent_messages()) if m["To"] == address]
    assert message["List-Unsubscribe-Post"] == ONE_CLICK
    [url] = re.findall(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    return url


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def call(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    language: str | None = None,
) -> tuple[int, dict[str, str], str]:
    """The unsubscribe function's answer to a request, as API Gateway hands it over: the sample
    one-click event of events/http, aimed at this path, method and body."""
    event = load_event("http/unsubscribe-one-click.json")
    parts = path.strip("/").split("/")
    route = "/u/{token}" + ("/undo" if len(parts) > 2 else "")
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = {"token": parts[1]}
    if language:
        event["headers"]["accept-language"] = language
    event.pop("body")
    event["isBase64Encoded"] = False
    del event["headers"]["content-type"], event["headers"]["content-length"]
    if body is not None:  # API Gateway hands a form body over base64-encoded
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
        event["headers"]["content-type"] = content_type or "application/x-www-form-urlencoded"
        event["headers"]["content-length"] = str(len(body))
    result = handler(event, LambdaContext())
    return result["statusCode"], result.get("headers") or {}, result.get("body") or ""


def one_click(url: str) -> tuple[int, dict[str, str], str]:
    """What a mail client sends to the List-Unsubscribe URL when its reader clicks "Unsubscribe"
    (RFC 8058): the sample event as it is, aimed at the URL's path."""
    event = load_event("http/unsubscribe-one-click.json")
    path = "/" + url.split("/", 3)[3]
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"token": token_of(url)}
    result = handler(event, LambdaContext())
    return result["statusCode"], result.get("headers") or {}, result.get("body") or ""


def suppressions() -> dict[str, Suppression]:
    return {item.email_hash: item for item in Suppression.scan(consistent_read=True)}


def invitation_of(wave: Wave, contact: Contact) -> Invitation:
    [found] = [i for i in invitations_of(wave) if i.contact_id == contact.contact_id]
    return found


def emitted_metrics(output: str) -> dict[str, Any]:
    documents = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    return {name: document[name] for document in documents for name in document if name.startswith("unsubscribe")}


# ------------------------------------------------------------------ the page and its POST


@pytest.mark.parametrize(
    ("language", "button", "question"),
    [
        ("fr", "Me désabonner", "Ne plus recevoir nos enquêtes ?"),
        ("en", "Unsubscribe me", "Stop receiving our surveys?"),
    ],
)
def test_the_link_shows_one_button_in_the_contacts_language_and_a_get_writes_nothing(
    system: ResolvedTemplate, language: str, button: str, question: str
) -> None:
    # Given an email sent to a contact in their language
    [contact] = add_contacts(1, language=language)
    wave = survey(system)
    url = list_unsubscribe_url(contact.email)
    token = token_of(url)

    # When they (or a mail scanner) open the link, twice
    status, headers, page = call("GET", f"/u/{token}", language="de")
    again = call("GET", f"/u/{token}")

    # Then the page asks, in their language, with one button that POSTs to the same link
    assert status == 200
    assert again[0] == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<html lang="{language}">' in page
    assert question in page
    assert re.findall(r'<form method="post" action="([^"]+)">', page) == [f"/u/{token}"]
    assert re.findall(r"<button[^>]*>([^<]+)</button>", page) == [button]
    # and it is never cached, indexed, referred or scripted
    assert headers["Cache-Control"] == "no-store"
    assert "noindex" in headers["X-Robots-Tag"]
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none';")
    assert "script" not in policy
    assert "form-action 'self'" in policy
    assert "<script" not in page
    # and nothing was written
    assert suppressions() == {}
    stored = invitation_of(wave, contact)
    assert (stored.unsubscribed_at, stored.unsubscribe_source) == (None, None)


def test_the_pages_button_suppresses_the_address_at_once_and_marks_the_invitation(
    system: ResolvedTemplate, capsys: pytest.CaptureFixture[str]
) -> None:
    [contact] = add_contacts(1, language="fr")
    wave = survey(system)
    token = token_of(list_unsubscribe_url(contact.email))
    invitation = invitation_of(wave, contact)
    clicked = START + timedelta(hours=3)
    at(clicked)
    capsys.readouterr()

    # When the contact presses the page's button (the form has no field of its own)
    status, headers, page = call("POST", f"/u/{token}", body=b"")

    # Then they see the confirmation in French, with a way to undo a mistaken click
    assert status == 200
    assert "Vous êtes désabonné·e" in page
    assert re.findall(r'<form method="post" action="([^"]+)">', page) == [f"/u/{token}/undo"]
    assert "Annuler mon désabonnement" in page
    assert headers["Cache-Control"] == "no-store"
    # and the address is suppressed, keyed by its hash, saying where it came from
    [suppression] = suppressions().values()
    assert suppression.email_hash == contact.email_hash
    assert (suppression.reason, suppression.source, suppression.invitation_id) == (
        "unsubscribe",
        "link",
        invitation.invitation_id,
    )
    assert suppression.created_at == clicked
    # and the invitation says when and how
    stored = invitation_of(wave, contact)
    assert (stored.unsubscribed_at, stored.unsubscribe_source) == (clicked, "link")
    # and operations see it counted
    assert emitted_metrics(capsys.readouterr().out) in ({"unsubscribed_link": 1.0}, {"unsubscribed_link": [1.0]})


@pytest.mark.parametrize(
    ("content_type", "form"),
    [
        ("application/x-www-form-urlencoded", ONE_CLICK.encode()),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XyZ--\r\n',
        ),
    ],
)
def test_a_mail_clients_one_click_post_suppresses_the_address_with_source_one_click(
    system: ResolvedTemplate, content_type: str, form: bytes
) -> None:
    # Given an English contact's email and its List-Unsubscribe header
    [contact] = add_contacts(1, language="en")
    wave = survey(system)
    url = list_unsubscribe_url(contact.email)

    # When their mail client POSTs List-Unsubscribe=One-Click to the URL (RFC 8058 allows both encodings)
    status, _, page = call("POST", "/" + url.split("/", 3)[3], body=form, content_type=content_type)

    # Then the client gets a 200 and the address is suppressed, marked as a one-click unsubscribe
    assert status == 200
    assert "You are unsubscribed" in page
    assert suppressions()[str(contact.email_hash)].source == "one_click"
    assert invitation_of(wave, contact).unsubscribe_source == "one_click"


def test_an_unsubscribe_repeated_changes_nothing_and_confirms_again(system: ResolvedTemplate) -> None:
    [contact] = add_contacts(1)
    wave = survey(system)
    url = list_unsubscribe_url(contact.email)
    token = token_of(url)
    first = START + timedelta(hours=1)
    at(first)
    call("POST", f"/u/{token}", body=b"")

    # When the button is pressed again, then the mail client's one-click comes a day later
    at(first + timedelta(days=1))
    again = call("POST", f"/u/{token}", body=b"")
    clicked = one_click(url)
    shown = call("GET", f"/u/{token}")

    # Then each answer confirms (undo still offered), and nothing moved
    for status, _, page in (again, clicked, shown):
        assert status == 200
        assert "Vous êtes désabonné·e" in page
        assert "Annuler mon désabonnement" in page
    [suppression] = suppressions().values()
    assert (suppression.source, suppression.created_at) == ("link", first)
    stored = invitation_of(wave, contact)
    assert (stored.unsubscribed_at, stored.unsubscribe_source) == (first, "link")


def test_an_address_already_suppressed_by_a_bounce_is_confirmed_and_left_as_it_was(system: ResolvedTemplate) -> None:
    [contact] = add_contacts(1, language="en")
    wave = survey(system)
    token = token_of(list_unsubscribe_url(contact.email))
    Suppression(contact.email_hash, reason="bounce", source="ses").save()

    status, _, page = call("POST", f"/u/{token}", body=b"")

    assert status == 200
    assert "Your address is already unsubscribed" in page
    assert "Undo" not in page  # nothing this page could lift
    [suppression] = suppressions().values()
    assert (suppression.reason, suppression.source, suppression.invitation_id) == ("bounce", "ses", None)
    assert invitation_of(wave, contact).unsubscribed_at is None


# ------------------------------------------------------------------ undo


def test_undo_lifts_exactly_the_unsubscribe_of_its_own_click(system: ResolvedTemplate) -> None:
    [contact] = add_contacts(1)
    wave = survey(system)
    token = token_of(list_unsubscribe_url(contact.email))
    call("POST", f"/u/{token}", body=b"")

    # When the confirmation page's "this was a mistake" button is pressed, twice
    status, _, page = call("POST", f"/u/{token}/undo", body=b"")
    repeated = call("POST", f"/u/{token}/undo", body=b"")

    # Then the address is no longer suppressed, the invitation forgets the unsubscribe
    assert status == 200
    assert "Votre désabonnement est annulé" in page
    assert re.findall(r'<form method="post" action="([^"]+)">', page) == [f"/u/{token}"]
    assert repeated[0] == 200
    assert "Votre désabonnement est annulé" in repeated[2]
    assert suppressions() == {}
    stored = invitation_of(wave, contact)
    assert (stored.unsubscribed_at, stored.unsubscribe_source) == (None, None)
    # and the page asks again
    assert "Me désabonner" in call("GET", f"/u/{token}")[2]


def test_undo_leaves_a_bounce_and_says_the_address_stays_unsubscribed(system: ResolvedTemplate) -> None:
    [contact] = add_contacts(1, language="en")
    wave = survey(system)
    token = token_of(list_unsubscribe_url(contact.email))
    Suppression(
        contact.email_hash, reason="bounce", source="ses", invitation_id=invitation_of(wave, contact).invitation_id
    ).save()

    status, _, page = call("POST", f"/u/{token}/undo", body=b"")

    assert status == 200
    assert "Your address stays unsubscribed" in page
    assert suppressions()[str(contact.email_hash)].reason == "bounce"


def test_undo_from_another_email_leaves_the_opt_out_made_from_the_first(system: ResolvedTemplate) -> None:
    # Given a contact surveyed twice, who unsubscribed from the first email
    [contact] = add_contacts(1, language="en")
    first_wave = survey(system)
    first_url = list_unsubscribe_url(contact.email)
    second_wave = survey(system, START + timedelta(days=130))
    second_token = token_of(list_unsubscribe_url(contact.email))
    assert token_of(first_url) != second_token
    one_click(first_url)

    # When the second email's page is used to undo
    status, _, page = call("POST", f"/u/{second_token}/undo", body=b"")

    # Then the first email's opt-out stays
    assert status == 200
    assert "Your address stays unsubscribed" in page
    assert suppressions()[str(contact.email_hash)].invitation_id == invitation_of(first_wave, contact).invitation_id
    assert invitation_of(first_wave, contact).unsubscribed_at is not None
    assert invitation_of(second_wave, contact).unsubscribed_at is None


# ------------------------------------------------------------------ bad links


def test_a_tampered_or_survey_or_unknown_token_is_one_friendly_404_and_records_nothing(
    system: ResolvedTemplate,
) -> None:
    [contact] = add_contacts(1)
    wave = survey(system)
    invitation_id = invitation_of(wave, contact).invitation_id
    token = unsubscribe_token(invitation_id)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    unknown = unsubscribe_token("a" * 26)  # well signed, but no such invitation
    bad = [tampered, survey_token(invitation_id), unknown, "not-a-token", token[:39]]

    answers = [
        call(method, f"/u/{candidate}{suffix}", body=None if method == "GET" else ONE_CLICK.encode(), language="en")
        for candidate in bad
        for method, suffix in (("GET", ""), ("POST", ""), ("POST", "/undo"))
    ]

    assert {status for status, _, _ in answers} == {404}
    assert len({page for _, _, page in answers}) == 1  # the same page whatever is wrong
    _, headers, page = answers[0]
    assert "This link does not work" in page
    assert headers["Cache-Control"] == "no-store"
    assert invitation_id not in page
    assert suppressions() == {}
    assert invitation_of(wave, contact).unsubscribed_at is None


def test_an_invitation_never_sent_has_no_unsubscribe_page(system: ResolvedTemplate) -> None:
    [contact] = add_contacts(1)
    wave = new_wave()
    start(wave)  # reserved, not sent: no email hash was copied onto it
    token = unsubscribe_token(invitation_of(wave, contact).invitation_id)

    status, _, page = call("POST", f"/u/{token}", body=ONE_CLICK.encode(), language="fr")

    assert status == 404
    assert "Ce lien ne fonctionne pas" in page
    assert suppressions() == {}


def test_a_link_opened_before_the_ledger_reached_the_invitation_still_unsubscribes(system: ResolvedTemplate) -> None:
    # Given an email SES has accepted, whose outcome the ledger's stream has not copied yet
    [contact] = add_contacts(1)
    wave = new_wave()
    start(wave)
    stream = LedgerStream()
    for batch in drain_queue(send_queue_url(system)):
        body = {"batch_id": batch.batch_id, "wave_id": batch.wave_id, "step": batch.step}
        deliver(json.dumps({**body, "invitation_ids": list(batch.invitation_ids), "attempt": batch.attempt}))
    invitation = invitation_of(wave, contact)
    assert (invitation.status, invitation.email_hash) == ("reserved", None)

    # When the reader's mail client sends the one-click POST at once
    status, _, page = call("POST", f"/u/{token_of(list_unsubscribe_url(contact.email))}", body=ONE_CLICK.encode())

    # Then the address is suppressed, by the hash the ledger recorded at send
    assert status == 200, page
    [suppression] = suppressions().values()
    assert (suppression.email_hash, suppression.source) == (contact.email_hash, "one_click")
    # and when the stream catches up, the invitation is sent and keeps its unsubscribe
    stream.apply()
    stored = invitation_of(wave, contact)
    assert (stored.status, stored.email_hash, stored.unsubscribe_source) == ("sent", contact.email_hash, "one_click")


# ------------------------------------------------------------------ conflicts


def _conflicts(monkeypatch: pytest.MonkeyPatch, count: int) -> list[str]:
    """The next `count` TransactWriteItems are cancelled by a conflict, as DynamoDB does (moto never)."""
    original = BaseClient._make_api_call
    seen: list[str] = []

    def conflicting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "TransactWriteItems":
            seen.append(operation)
            if len(seen) <= count:
                reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}] + [
                    {"Code": "None"} for _ in params["TransactItems"][1:]
                ]
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                        "CancellationReasons": reasons,
                    },
                    operation,
                )
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", conflicting)
    return seen


def test_a_conflicting_transaction_is_tried_again_and_lands_once(
    system: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    [contact] = add_contacts(1, language="en")
    wave = survey(system)
    url = list_unsubscribe_url(contact.email)
    tries = _conflicts(monkeypatch, 2)

    status, _, page = one_click(url)

    assert (status, len(tries)) == (200, 3)
    assert "You are unsubscribed" in page
    assert suppressions()[str(contact.email_hash)].source == "one_click"
    assert invitation_of(wave, contact).unsubscribe_source == "one_click"


def test_conflicts_that_persist_answer_503_and_leave_nothing_half_written(
    system: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    [contact] = add_contacts(1, language="en")
    wave = survey(system)
    url = list_unsubscribe_url(contact.email)
    tries = _conflicts(monkeypatch, 10)

    status, headers, page = one_click(url)

    assert (status, len(tries)) == (503, 3)
    assert "please try again in a few moments" in page  # in the contact's language
    assert (headers["Cache-Control"], headers["Retry-After"]) == ("no-store", "5")
    assert suppressions() == {}
    assert invitation_of(wave, contact).unsubscribed_at is None


# ------------------------------------------------------------------ every later send honours it


def test_after_a_one_click_unsubscribe_a_new_wave_skips_the_contact_as_suppressed(system: ResolvedTemplate) -> None:
    # Given two contacts surveyed, one of whom unsubscribes from their mail client
    leaving, staying = add_contacts(2)
    survey(system)
    assert one_click(list_unsubscribe_url(leaving.email))[0] == 200
    mailed = len(sent_messages())

    # When a new wave to their segment starts four months later
    later = new_wave(START + timedelta(days=125))
    start(later)
    send_queued(system)

    # Then the contact is skipped as suppressed, and only the other one gets the new email
    assert invitation_of(later, leaving).skip_reason == "suppressed"
    assert invitation_of(later, staying).status == "sent"
    assert [m["To"] for m in sent_messages()[mailed:]] == [staying.email]
    later.refresh()
    assert (later.skipped_suppressed, later.reserved) == (1, 1)


def test_a_batch_already_queued_skips_an_address_unsubscribed_since_at_send(system: ResolvedTemplate) -> None:
    # Given a contact's next survey planned and queued, but not sent yet
    leaving, staying = add_contacts(2)
    survey(system)
    url = list_unsubscribe_url(leaving.email)
    later = new_wave(START + timedelta(days=125))
    start(later)
    assert invitation_of(later, leaving).status == "reserved"
    mailed = len(sent_messages())

    # When the contact unsubscribes from the first email before the batch reaches the sender
    assert one_click(url)[0] == 200
    send_queued(system)

    # Then the sender skips them: only the other contact gets the email
    assert [m["To"] for m in sent_messages()[mailed:]] == [staying.email]
    skipped = invitation_of(later, leaving)
    assert (skipped.status, skipped.skip_reason) == ("skipped", "suppressed")


def test_the_reminder_skips_an_address_unsubscribed_since_the_first_email(system: ResolvedTemplate) -> None:
    leaving, staying = add_contacts(2, language="en")
    wave = survey(system)
    assert one_click(list_unsubscribe_url(leaving.email))[0] == 200
    mailed = len(sent_messages())

    at(wave.reminder_at)
    planning.run_wave_step(wave.wave_id, "reminder")
    send_queued(system)

    reminders = sent_messages()[mailed:]
    assert [(m["To"], m["X-Closeloop-Step"]) for m in reminders] == [(staying.email, "reminder")]
    stored = invitation_of(wave, leaving)
    assert stored.reminder is not None
    assert stored.reminder.state == "skipped"

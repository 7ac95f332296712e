"""Inbound mail through the local runtime: a customer replies to a survey email over SMTP, and a
staff member reads the reply attached to the response, its quoted history gone."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import httpx

from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.integration.dispatch import body, make_contact, make_wave, reserve
from tests.support import template

HUGO = "hugo.bernard@demo.closeloop.example"  # caller only
CLAIRE = "claire.martin@demo.closeloop.example"  # caller and manager
CUSTOMER = "e2e.repondant@pharmacie-des-halles.example"

NEW_TEXT = (
    "Bonjour,\n\nTrès satisfait de votre équipe, mais les délais de livraison en août sont trop longs.\n"
    "Pouvez-vous me rappeler à ce sujet ?"
)


def outlook_reply(reply_to: str, subject: str) -> bytes:
    """A French Outlook reply in quoted-printable: the new text, a signature, the quoted survey."""
    message = EmailMessage()
    message["From"] = f"Lucie Garnier <{CUSTOMER}>"
    message["To"] = reply_to
    message["Subject"] = f"RE: {subject}"
    message["X-Mailer"] = "Microsoft Outlook 16.0"
    text = (
        f"{NEW_TEXT}\n\nCordialement,\nLucie Garnier\n\n"
        "________________________________\n"
        "De : Laboratoires Orvalis <enquete@demo.closeloop.example>\n"
        "Envoyé : lundi 4 janvier 2027 10:00\n"
        f"À : Lucie Garnier <{CUSTOMER}>\n"
        f"Objet : {subject}\n\n"
        "Bonjour Lucie,\n\nRecommanderiez-vous Laboratoires Orvalis à un confrère ?\n"
    )
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def test_a_reply_sent_over_smtp_is_attached_to_the_response_with_its_new_text(
    system: Runtime, http: httpx.Client
) -> None:
    # Given a survey email sent to a customer through the runtime
    wave = make_wave()
    contact = make_contact(CUSTOMER, first_name="Lucie", language="fr")
    batch_id, [invitation_id] = reserve(wave, [contact])
    sqs = system.client("sqs")
    url = sqs.get_queue_url(QueueName=system.physical_name("SendQueue"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body(wave, batch_id, [invitation_id]))
    assert system.event_sources.drain(timeout=60)
    [sent] = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
    reply_to = dict(sent["headers"])["Reply-To"]
    assert reply_to.startswith("reply+")

    # When the customer replies from Outlook, over SMTP, to the email's Reply-To
    with smtplib.SMTP("127.0.0.1", system.smtp_port, timeout=10) as smtp:
        smtp.sendmail(CUSTOMER, [reply_to], outlook_reply(reply_to, sent["subject"]))
    assert system.event_sources.drain(timeout=60)

    # Then a caller reading the response sees the reply's new text, without the quoted survey
    headers = {"Authorization": f"Bearer {token_for(http, HUGO)}"}
    shown = http.get(f"/responses/{invitation_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    answer = shown.json()
    assert answer["response"] is None  # replied, not answered
    [message] = answer["messages"]
    assert (message["kind"], message["direction"], message["attention"]) == ("reply", "in", "open")
    assert NEW_TEXT.split("\n\n", 1)[1] in message["body"]
    assert "Recommanderiez-vous" not in message["body"]
    assert message["subject"] == f"RE: {sent['subject']}"
    assert (answer["reply_count"], message["from_contact"]) == (1, True)


def test_mail_with_no_token_is_quarantined_and_listed_for_managers_only(system: Runtime, http: httpx.Client) -> None:
    # Given mail to an address of the reply domain that carries no reply token
    reply_domain = template()["Parameters"]["ReplyDomain"]["Default"]
    raw = EmailMessage()
    raw["From"] = CUSTOMER
    raw["To"] = f"contact@{reply_domain}"
    raw["Subject"] = "Question sur ma commande"
    raw.set_content("Bonjour, où en est ma commande ?")

    answer = http.post("/_local/inbound", content=raw.as_bytes())
    assert answer.status_code == 202, answer.text
    assert system.event_sources.drain(timeout=60)

    # Then a manager finds it in this month's quarantine, a caller may not look
    manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}", "Accept-Language": "fr"}
    listed = http.get("/quarantine", headers=manager)
    assert listed.status_code == 200, listed.text
    subjects = {item["subject"]: item for item in listed.json()["items"]}
    item = subjects["Question sur ma commande"]
    assert (item["reason"], item["reason_text"]) == ("no_token", "adresse sans jeton de réponse")
    caller = {"Authorization": f"Bearer {token_for(http, HUGO)}"}
    assert http.get("/quarantine", headers=caller).status_code == 403

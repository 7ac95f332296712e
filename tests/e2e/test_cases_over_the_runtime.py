"""Callbacks through the local runtime: responses open cases through the Responses stream, staff
work them through the cases API over HTTP."""

from __future__ import annotations

import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Attempt, Case, Contact, Staff
from closeloop.rules.business_time import business_hours_between
from closeloop.rules.case_events import stored_time
from closeloop.rules.sla import business_calendar, sla_for
from closeloop.settings import Settings
from closeloop.tokens import survey_token
from closeloop_cli.main import app
from closeloop_local.demo import DEMO_DOMAIN
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.integration.dispatch import body, make_contact, make_wave, reserve

HUGO = f"hugo.bernard@{DEMO_DOMAIN}"  # caller
AMINA = f"amina.diallo@{DEMO_DOMAIN}"  # caller
CLAIRE = f"claire.martin@{DEMO_DOMAIN}"  # caller and manager


def _case_owned_by(system: Runtime, http: httpx.Client, owner: str, *, score: int = 2) -> Case:
    """A customer of `owner` answers the survey through the gateway; the Responses stream opens the
    case (assigned to the account owner)."""
    clock.set_state(**system.clock.state())  # items of this process dated on the runtime's clock
    wave = make_wave(closes_at=clock.now() + timedelta(days=60))
    address = f"e2e.cases.{wave.wave_id.lower()}@pharmacie-des-halles.example"
    contact = make_contact(address, first_name="Nadia", account_owner=owner, phone="+33611223344")
    _, [invitation_id] = reserve(wave, [contact])
    answer = http.post(f"/r/{survey_token(invitation_id)}", data={"score": str(score), "comment": "Trop d'attente"})
    assert answer.status_code == 200, answer.text
    assert system.event_sources.drain(timeout=60)
    return Case.get(invitation_id, consistent_read=True)


def _bearer(http: httpx.Client, email: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token_for(http, email)}"}


def test_a_manager_reassigns_a_case_over_http(system: Runtime, http: httpx.Client) -> None:
    case = _case_owned_by(system, http, HUGO)
    hugo = Staff.find_by_email(HUGO)
    assert hugo is not None
    assert case.assignee_id == hugo.staff_id
    manager = _bearer(http, CLAIRE)

    listed = http.get("/cases", params={"assignee": hugo.staff_id}, headers=manager)
    assert listed.status_code == 200, listed.text
    assert case.case_id in [entry["case_id"] for entry in listed.json()["cases"]]
    moved = http.post(
        f"/cases/{case.case_id}/reassign", json={"to_email": AMINA, "version": case.version}, headers=manager
    )
    stale = http.post(
        f"/cases/{case.case_id}/reassign", json={"to_email": HUGO, "version": case.version}, headers=manager
    )

    assert moved.status_code == 200, moved.text
    assert moved.json()["assignment"] == "manual"
    assert stale.status_code == 409
    queue = http.get("/cases/mine", headers=_bearer(http, AMINA)).json()["cases"]
    assert case.case_id in [entry["case_id"] for entry in queue]
    assert case.case_id not in [
        entry["case_id"] for entry in http.get("/cases/mine", headers=_bearer(http, HUGO)).json()["cases"]
    ]


def test_a_caller_reaching_a_manager_route_gets_403(system: Runtime, http: httpx.Client) -> None:
    caller = _bearer(http, HUGO)

    answers = [
        http.get("/cases", headers=caller),
        http.post("/taxonomy", json={"tag": "e2e", "label_fr": "E2E", "label_en": "E2E"}, headers=caller),
        http.post("/cases/aaaaaaaaaaaaaaaaaaaaaaaaaa/reassign", json={"to_email": AMINA, "version": 1}, headers=caller),
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert all("manager" in answer.json()["message"] for answer in answers)
    assert http.get("/cases/mine", headers=caller).status_code == 200


def test_two_attempts_logged_at_once_are_both_kept(system: Runtime, http: httpx.Client) -> None:
    case = _case_owned_by(system, http, HUGO)
    headers = [_bearer(http, HUGO), _bearer(http, CLAIRE)]
    start = threading.Barrier(2)

    def log(signed_in: dict[str, str]) -> int:
        with httpx.Client(base_url=system.url, timeout=60) as client:
            start.wait()
            answer = client.post(
                f"/cases/{case.case_id}/attempts",
                json={"outcome": "no_answer"},
                headers={**signed_in, "Idempotency-Key": f"e2e-{new_id()}"},
            )
            return answer.status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(log, headers))

    assert statuses == [201, 201]
    assert len(list(Attempt.query(case.case_id, consistent_read=True))) == 2
    stored = Case.get(case.case_id, consistent_read=True)
    assert (stored.attempt_count, stored.failed_attempt_count) == (2, 2)


def test_the_command_line_shows_the_queue_and_the_script_logs_an_attempt_and_reassigns(
    system: Runtime, http: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.setenv("COLUMNS", "200")
    case = _case_owned_by(system, http, HUGO, score=3)
    runner = CliRunner()
    api = ["--api", system.url]

    assert runner.invoke(app, ["login", "--email", HUGO, *api]).exit_code == 0
    queue = runner.invoke(app, ["cases", "mine", *api])
    shown = runner.invoke(app, ["cases", "show", case.case_id, *api])
    logged = runner.invoke(
        app, ["cases", "attempt", case.case_id, "--outcome", "voicemail", "--notes", "Message laissé", *api]
    )
    refused = runner.invoke(app, ["cases", "list", *api])

    assert queue.exit_code == 0, queue.output
    assert case.case_id in queue.output
    assert "détracteur" in queue.output
    assert shown.exit_code == 0, shown.output
    assert "Nadia Martin" in shown.output
    assert "Trop d'attente" in shown.output
    assert "Script d'appel" in shown.output
    assert logged.exit_code == 0, logged.output
    assert logged.output.strip() == "Tentative enregistrée (voicemail) : le rappel est ouvert."
    assert refused.exit_code == 1
    assert "403" in refused.output

    assert runner.invoke(app, ["login", "--email", CLAIRE, *api]).exit_code == 0
    listed = runner.invoke(app, ["cases", "list", "--category", "detractor", "--limit", "100", *api])
    moved = runner.invoke(app, ["cases", "reassign", case.case_id, "--to", AMINA, *api])
    added = runner.invoke(app, ["cases", "taxonomy", "add", "e2e-cli", "--fr", "Accueil", "--en", "Welcome", *api])
    tags = runner.invoke(app, ["cases", "taxonomy", "list", *api])

    assert case.case_id in listed.output
    assert moved.exit_code == 0, moved.output
    amina = Staff.find_by_email(AMINA)
    assert amina is not None
    assert moved.output.strip() == f"Rappel {case.case_id} confié à {amina.staff_id} (manual)."
    assert added.exit_code == 0, added.output
    assert "e2e-cli" in tags.output
    assert "Accueil" in tags.output
    stored = Case.get(case.case_id, consistent_read=True)
    assert (stored.assignee_id, stored.failed_attempt_count) == (amina.staff_id, 1)


# ------------------------------------------------------------------ case and staff mail, SLA timers


def _mail_of(http: httpx.Client, case_id: str, to: str) -> list[dict[str, Any]]:
    """Emails of the outbox about one case (their X-Closeloop-Ref) sent to one address, oldest first."""
    found = http.get("/_local/outbox.json", params={"to": to, "limit": "1000"}).json()["messages"]
    about = [m for m in found if (dict(m["headers"]).get("X-Closeloop-Ref") or "").startswith(f"msg:{case_id}:")]
    return sorted(about, key=lambda m: dict(m["headers"])["X-Closeloop-Ref"])


def _customer_reply(reply_to: str, sender: str, subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Nadia Martin <{sender}>"
    message["To"] = reply_to
    message["Subject"] = f"RE: {subject}"
    message.set_content("Bonjour,\n\nVous pouvez me rappeler jeudi après 14 h.\n\nNadia Martin", charset="utf-8")
    return message.as_bytes()


def test_two_no_answer_attempts_send_the_fallback_and_the_reply_reaches_the_assignee(
    system: Runtime, http: httpx.Client
) -> None:
    # Given a detractor's case assigned to Hugo, its contact French
    case = _case_owned_by(system, http, HUGO)
    contact = Contact.get(case.contact_id)
    hugo = _bearer(http, HUGO)

    # When Hugo logs two unanswered calls
    for _ in range(2):
        logged = http.post(
            f"/cases/{case.case_id}/attempts",
            json={"outcome": "no_answer"},
            headers={**hugo, "Idempotency-Key": f"e2e-hugo-{new_id()}"},
        )
        assert logged.status_code == 201, logged.text
    assert system.event_sources.drain(timeout=60)

    # Then the customer got one fallback email, in French, whose replies come back to the case
    [fallback] = _mail_of(http, case.case_id, str(contact.email))
    headers = dict(fallback["headers"])
    assert fallback["subject"] == "Suite à votre avis : nous avons essayé de vous joindre"
    assert headers["Content-Language"] == "fr"
    assert headers["Reply-To"].startswith("reply+")
    assert "Hugo" in fallback["text"]

    # When she answers it over SMTP
    with smtplib.SMTP("127.0.0.1", system.smtp_port, timeout=10) as smtp:
        smtp.sendmail(
            str(contact.email),
            [headers["Reply-To"]],
            _customer_reply(headers["Reply-To"], str(contact.email), fallback["subject"]),
        )
    assert system.event_sources.drain(timeout=60)

    # Then the reply is on the case and Hugo is told, with a link to it
    stored = Case.get(case.case_id, consistent_read=True)
    assert stored.reply_count == 1
    notices = [m for m in _mail_of(http, case.case_id, HUGO) if "notify_reply" in dict(m["headers"])["X-Closeloop-Ref"]]
    assert len(notices) == 1
    assert notices[0]["subject"] in {"Un client a répondu à notre email", "A customer replied to our email"}
    assert f"/staff/cases/{case.case_id}" in notices[0]["text"]


def test_moving_the_clock_past_the_due_time_sends_the_escalation_once_per_overdue_day(
    system: Runtime, http: httpx.Client
) -> None:
    # Given a detractor's case assigned to Hugo, its due time 10 minutes ahead and its reminder
    # sent (seeded as the demo seeds its cases, at an earlier domain time)
    case = _case_owned_by(system, http, HUGO)
    due = clock.now() + timedelta(minutes=10)
    Case._get_connection().update_item(
        case.case_id,
        actions=[
            Case.responded_at.set(due - timedelta(days=2)),
            Case.due_at.set(due),
            Case.queue_due_at.set(due),
            Case.last_timer.set(f"remind@{stored_time(due - timedelta(hours=4))}"),
            Case.next_timer_step.set("escalate#1"),
            Case.next_timer_at.set(due),
            Case.version.add(1),
        ],
    )
    assert system.event_sources.drain(timeout=60)

    # When the clock moves past the due time, then a day further (every 5-minute sweep fired)
    for step in ("PT20M", "P1D"):
        moved = http.post("/_local/clock", json={"advance": step}, timeout=900)
        assert moved.status_code == 200, moved.text
        assert system.event_sources.drain(timeout=120)

    # Then Claire (a manager) got one escalation for each overdue day, dated at its step
    escalations = _mail_of(http, case.case_id, CLAIRE)
    refs = [dict(m["headers"])["X-Closeloop-Ref"] for m in escalations]
    assert [ref.split("#escalate-")[1].split("-")[0] for ref in refs] == ["1", "2"]
    assert [ref.split(":", 2)[2].split("#")[0] for ref in refs] == [
        stored_time(due + timedelta(days=n)) for n in (0, 1)
    ]
    assert [" ".join(m["subject"].split()) for m in escalations] in (
        [f"Dossier en retard{s} : détracteur, note 2/10" for s in ("", " de 1 jour")],
        [f"Case overdue{s}: detractor, score 2/10" for s in ("", " by 1 day")],
    )
    stored = Case.get(case.case_id, consistent_read=True)
    assert stored.breached_at == due
    assert stored.next_timer_step == "escalate#3"


# ------------------------------------------------------------------ opening cases, assignment, replies

THOMAS = f"thomas.petit@{DEMO_DOMAIN}"  # a caller of the demo company, account owner of the customers below


def _survey_sent_to(system: Runtime, http: httpx.Client, owner: str) -> tuple[str, dict[str, str]]:
    """A survey email sent through the send queue to a new customer of `owner`; the invitation id
    and the email's headers as the outbox shows them."""
    clock.set_state(**system.clock.state())  # items of this process dated on the runtime's clock
    wave = make_wave(closes_at=clock.now() + timedelta(days=60))
    address = f"e2e.opening.{wave.wave_id.lower()}@pharmacie-des-halles.example"
    contact = make_contact(address, first_name="Lucie", account_owner=owner, phone="+33611223344")
    batch_id, [invitation_id] = reserve(wave, [contact])
    sqs = system.client("sqs")
    url = sqs.get_queue_url(QueueName=system.physical_name("SendQueue"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body(wave, batch_id, [invitation_id]))
    assert system.event_sources.drain(timeout=180)
    [sent] = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
    return invitation_id, dict(sent["headers"])


def test_a_detractors_answer_opens_a_case_assigned_to_the_account_owner(system: Runtime, http: httpx.Client) -> None:
    owner = Staff.find_by_email(THOMAS)
    assert owner is not None
    assert owner.open_cases < owner.capacity  # room for one more: the owner rule applies
    invitation_id, _headers = _survey_sent_to(system, http, owner.email)

    # When the customer sends a 2 from the survey page
    answered = http.post(f"/r/{survey_token(invitation_id)}", data={"score": "2", "comment": "Livraisons en retard"})
    assert answered.status_code == 200, answered.text
    assert system.event_sources.drain(timeout=180)

    # Then their account owner finds the case in their queue, due in two business days, with its script
    signed_in = _bearer(http, owner.email)
    queue = http.get("/cases/mine", headers=signed_in).json()["cases"]
    assert invitation_id in [entry["case_id"] for entry in queue]
    shown = http.get(f"/cases/{invitation_id}", headers=signed_in)
    assert shown.status_code == 200, shown.text
    case = shown.json()
    assert (case["status"], case["category"], case["score"], case["confirmed"]) == ("open", "detractor", 2, True)
    assert (case["assignee"]["email"], case["assignment"]) == (owner.email, "owner")
    assert case["has_phone"] is True
    assert case["first_exchange"] is None
    assert case["script"]  # the detractor's call guide, in the customer's language
    settings = Settings()
    calendar = business_calendar(settings)
    responded = datetime.fromisoformat(case["responded_at"].replace("Z", "+00:00"))
    expected = sla_for("detractor", responded, calendar, settings).due_at
    assert datetime.fromisoformat(case["due_at"].replace("Z", "+00:00")) == expected
    assert business_hours_between(calendar, responded, expected) == 18


def test_a_reply_to_the_survey_email_after_answering_is_the_cases_first_exchange(
    system: Runtime, http: httpx.Client
) -> None:
    # Given a customer of Hugo's who answered 9 to a survey email
    invitation_id, headers = _survey_sent_to(system, http, HUGO)
    answered = http.post(f"/r/{survey_token(invitation_id)}", data={"score": "9"})
    assert answered.status_code == 200, answered.text
    assert system.event_sources.drain(timeout=180)

    # When they also reply to the survey email over SMTP
    reply_to = headers["Reply-To"]
    message = EmailMessage()
    message["From"] = "Lucie Garnier <e2e.opening@pharmacie-des-halles.example>"
    message["To"] = reply_to
    message["Subject"] = f"RE: {headers.get('Subject', 'Votre avis')}"
    message.set_content("Bonjour,\n\nTrès contente du nouveau portail, merci !\n\nLucie", charset="utf-8")
    with smtplib.SMTP("127.0.0.1", system.smtp_port, timeout=10) as smtp:
        smtp.sendmail("e2e.opening@pharmacie-des-halles.example", [reply_to], message.as_bytes())
    assert system.event_sources.drain(timeout=180)

    # Then Hugo sees the reply on the case, which counts as its first exchange
    case = http.get(f"/cases/{invitation_id}", headers=_bearer(http, HUGO)).json()
    assert case["reply_count"] == 1
    assert case["first_exchange"]["kind"] == "reply"
    assert case["first_exchange"]["delay_h"] >= 0
    assert any("Très contente du nouveau portail, merci !" in (entry.get("body") or "") for entry in case["messages"])
    stored = Case.get(invitation_id, consistent_read=True)
    assert stored.next_timer_at is None  # the SLA is met: no reminder, no escalation

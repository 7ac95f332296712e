"""Case and staff emails as the staff member's or the customer's mail client sees them, in French
and in English (closeloop.mail.case_mail)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default

import pytest

from closeloop import clock, tokens
from closeloop.mail.case_mail import case_mime, render_fallback_email, render_staff_email
from closeloop.mail.survey import RenderError
from closeloop.models import invitation_id_for
from closeloop.tokens import TokenKind, read_token

BASE = "https://nps.orvalis.example"
NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
CASE_ID = invitation_id_for("01WAVE", "01CONTACT")
DUE = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # Wednesday 11:00 in Paris


@pytest.fixture(autouse=True)
def _setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "token_keys", lambda: ("k1", {"k1": b"a key for the tests"}))
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("COMPANY_NAME", "Laboratoires Orvalis")
    monkeypatch.setenv("SENDER_ADDRESS", "enquete@orvalis.example")
    monkeypatch.setenv("REPLY_DOMAIN", "reply.orvalis.example")
    clock.set_state(frozen_at=NOW)


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content())


def _staff(kind: str, language: str, **extra: object) -> EmailMessage:
    rendered = render_staff_email(
        kind,
        to="claire.dubois@orvalis.example",
        language=language,
        case_id=CASE_ID,
        message_key="2026-03-02T08:00:05.000000+0000#" + kind,
        category="detractor",
        score=3,
        confirmed=True,
        due_at=DUE,
        recipient_name="Claire Dubois",
        **extra,  # type: ignore[arg-type]
    )
    return _parsed(case_mime(rendered))


@pytest.mark.parametrize(
    ("language", "subject", "due"),
    [
        ("fr", "Un client à rappeler : détracteur, note 3/10", "mercredi 4 mars 2026 à 11:00"),
        ("en", "A customer to call back: detractor, score 3/10", "Wednesday 4 March 2026, 11:00"),
    ],
)
def test_the_assignment_notice_names_the_case_and_its_due_date_in_paris_time(
    language: str, subject: str, due: str
) -> None:
    message = _staff("notify_assigned", language)
    text, html = _parts(message)
    assert message["Subject"] == subject
    assert message["To"] == "claire.dubois@orvalis.example"
    assert message["X-Closeloop-Ref"] == f"msg:{CASE_ID}:2026-03-02T08:00:05.000000+0000#notify_assigned"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == language
    assert due in text
    link = f"{BASE}/staff/cases/{CASE_ID}"
    assert link in text
    assert f'href="{link}"' in html
    assert "Claire Dubois" in text
    assert message["Reply-To"] is None


def test_the_staff_link_uses_the_staff_pages_address_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_APP_URL", "https://staff.orvalis.example/")
    text, _ = _parts(_staff("notify_reply", "en"))
    assert f"https://staff.orvalis.example/staff/cases/{CASE_ID}" in text


@pytest.mark.parametrize(
    ("language", "days", "subject", "words"),
    [
        ("fr", 0, "Dossier en retard : détracteur, note 3/10", "Dossier confié à : Paul Girard"),
        ("fr", 2, "Dossier en retard de 2 jours : détracteur, note 3/10", "depuis 2 jours"),
        ("en", 1, "Case overdue by 1 day: detractor, score 3/10", "Assigned to: Paul Girard"),
    ],
)
def test_the_escalation_says_how_late_and_who_has_the_case(language: str, days: int, subject: str, words: str) -> None:
    message = _staff("escalate", language, assignee_name="Paul Girard", days_overdue=days)
    text, _ = _parts(message)
    assert message["Subject"] == subject
    assert words in text


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("fr", "Rappel : un client attend votre appel avant le mercredi 4 mars 2026 à 11:00"),
        ("en", "Reminder: a customer is waiting for your call by Wednesday 4 March 2026, 11:00"),
    ],
)
def test_the_reminder_gives_the_due_time(language: str, subject: str) -> None:
    # (a folded non-ASCII subject may unfold with a doubled space: mail clients show it as one)
    assert " ".join(_staff("remind", language)["Subject"].split()) == subject


def _fallback(
    category: str, language: str, caller: str | None = "Claire Dubois", *, called: bool = True
) -> EmailMessage:
    rendered = render_fallback_email(
        to="anne.lefebvre@cabinet.example",
        language=language,
        case_id=CASE_ID,
        message_key="2026-03-02T11:00:00.000000+0000#fallback",
        category=category,
        first_name="Anne",
        last_name="Lefebvre",
        caller_name=caller,
        reply_token="abcdefgh2345",
        called=called,
    )
    return _parsed(case_mime(rendered))


@pytest.mark.parametrize(
    ("category", "language", "subject", "words"),
    [
        ("detractor", "fr", "Suite à votre avis : nous avons essayé de vous joindre", "ce qui n'a pas fonctionné"),
        ("passive", "fr", "Suite à votre avis : pouvons-nous en parler ?", "mériter un 9 ou un 10"),
        ("promoter", "fr", "Merci pour votre avis : nous avons essayé de vous joindre", "continuer à le faire"),
        ("detractor", "en", "About your feedback: we tried to reach you", "what went wrong"),
        ("passive", "en", "About your feedback: could we talk?", "earn a 9 or a 10"),
        ("promoter", "en", "Thank you for your feedback: we tried to reach you", "keep doing it"),
    ],
)
def test_the_fallback_speaks_to_the_category_in_the_customers_language_and_brings_the_reply_back(
    category: str, language: str, subject: str, words: str
) -> None:
    message = _fallback(category, language)
    text, html = _parts(message)
    assert message["Subject"] == subject
    assert message["To"] == "anne.lefebvre@cabinet.example"
    assert message["Reply-To"] == "reply+abcdefgh2345@reply.orvalis.example"
    assert message["From"].addresses[0].display_name == "Claire Dubois - Laboratoires Orvalis"
    assert message["X-Closeloop-Ref"] == f"msg:{CASE_ID}:2026-03-02T11:00:00.000000+0000#fallback"
    assert words in text
    assert words.replace("'", "&#39;") in html
    assert "Anne Lefebvre" in text
    assert text.rstrip().endswith("Claire Dubois\nLaboratoires Orvalis")
    # a service email: no unsubscribe link in its words, the header mail clients offer
    assert "/u/" not in text
    unsubscribe = message["List-Unsubscribe"]
    url = unsubscribe.split("<", 1)[1].split(">", 1)[0]
    assert read_token(url.rsplit("/", 1)[1], TokenKind.UNSUBSCRIBE) == CASE_ID
    assert "mailto:unsubscribe+abcdefgh2345@reply.orvalis.example" in unsubscribe


def test_a_fallback_without_a_caller_is_signed_by_the_company() -> None:
    message = _fallback("detractor", "fr", caller=None)
    text, _ = _parts(message)
    assert message["From"].addresses[0].display_name == "Laboratoires Orvalis"
    assert text.rstrip().endswith("Bien cordialement,\nLaboratoires Orvalis")


def test_an_address_that_cannot_be_written_is_a_render_error() -> None:
    with pytest.raises(RenderError):
        render_fallback_email(
            to="not an address",
            language="fr",
            case_id=CASE_ID,
            message_key="k",
            category="detractor",
            first_name=None,
            last_name=None,
            caller_name=None,
            reply_token="abcdefgh2345",
        )


@pytest.mark.parametrize(
    ("language", "subject", "said"),
    [
        ("fr", "Suite à votre avis : nous aimerions vous parler", "nous n'avons pas de numéro de téléphone"),
        ("en", "About your feedback: we would like to talk", "we have no phone number to reach you"),
    ],
)
def test_a_fallback_sent_without_any_call_does_not_say_we_tried(language: str, subject: str, said: str) -> None:
    message = _fallback("detractor", language, called=False)

    text = message.get_body(("plain",)).get_content()
    assert " ".join(str(message["Subject"]).split()) == subject
    assert said in text
    assert "essayé de vous joindre" not in text
    assert "We tried to call you" not in text


@pytest.mark.parametrize(
    ("zone", "language", "said"),
    [
        ("Europe/Paris", "fr", "mercredi 4 mars 2026 à 11:00 (heure de Paris)"),
        ("America/Martinique", "fr", "mercredi 4 mars 2026 à 06:00 (heure de Martinique)"),
        ("America/Martinique", "en", "Wednesday 4 March 2026, 06:00 (Martinique time)"),
    ],
)
def test_the_due_time_is_given_in_the_programmes_time_zone_and_named(
    monkeypatch: pytest.MonkeyPatch, zone: str, language: str, said: str
) -> None:
    monkeypatch.setenv("TIMEZONE", zone)

    text = _staff("notify_assigned", language).get_body(("plain",)).get_content()

    assert said in " ".join(text.split())

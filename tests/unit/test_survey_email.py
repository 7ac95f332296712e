"""The survey email as a customer's mail client sees it, in French and in English."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from html.parser import HTMLParser

import pytest

from closeloop import clock, tokens
from closeloop.mail.survey import RenderError, render_survey_email, to_mime
from closeloop.models import Contact, Wave, invitation_id_for
from closeloop.tokens import TokenKind, read_token

BASE = "https://nps.orvalis.example"
NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
INVITATION = invitation_id_for("01WAVE", "01CONTACT")


@pytest.fixture(autouse=True)
def _setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "token_keys", lambda: ("k1", {"k1": b"a key for the tests"}))
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("COMPANY_NAME", "Laboratoires Orvalis")
    monkeypatch.setenv("SENDER_ADDRESS", "enquete@orvalis.example")
    monkeypatch.setenv("REPLY_DOMAIN", "reply.orvalis.example")
    clock.set_state(frozen_at=NOW)


def _wave(**texts: str) -> Wave:
    wave = Wave("01WAVE", name="Printemps", starts_at=NOW, closes_at=NOW + timedelta(days=21))
    wave.subjects.fr = texts.get("subject_fr")
    wave.subjects.en = texts.get("subject_en")
    wave.intros.fr = texts.get("intro_fr")
    wave.intros.en = texts.get("intro_en")
    return wave


def _contact(language: str = "fr", address: str = "anne.lefebvre@cabinet.example") -> Contact:
    return Contact("01CONTACT", email=address, first_name="Anne", last_name="Lefebvre", language=language)


class _Links(HTMLParser):
    """Every link of a page, with the attributes of the link and of the elements around it."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self._open: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("div", "td", "table", "tr", "a"):
            self._open.append({"tag": tag, **attributes})
        if tag == "a":
            hidden = any("display:none" in (element.get("style") or "").replace(" ", "") for element in self._open)
            self.links.append({**attributes, "hidden_by_style": "yes" if hidden else "no"})

    def handle_endtag(self, tag: str) -> None:
        for position in range(len(self._open) - 1, -1, -1):
            if self._open[position]["tag"] == tag:
                del self._open[position:]
                break


def _message(**options: object) -> EmailMessage:
    survey = render_survey_email(
        wave=options.pop("wave", _wave()),  # type: ignore[arg-type]
        contact=options.pop("contact", _contact()),  # type: ignore[arg-type]
        invitation_id=INVITATION,
        step=str(options.pop("step", "first")),
        **options,  # type: ignore[arg-type]
    )
    message = email.message_from_bytes(to_mime(survey), policy=default)
    assert isinstance(message, EmailMessage)
    return message


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def _links(html: str) -> list[dict[str, str]]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.mark.parametrize(
    ("language", "subject", "question"),
    [
        ("fr", "Votre avis compte", "quelle est la probabilité que vous recommandiez Laboratoires Orvalis"),
        ("en", "Your opinion matters", "how likely are you to recommend Laboratoires Orvalis"),
    ],
)
def test_the_email_asks_the_nps_question_in_the_contacts_language(language: str, subject: str, question: str) -> None:
    wave = _wave(subject_fr="Votre avis compte", subject_en="Your opinion matters")

    message = _message(wave=wave, contact=_contact(language))
    text, html = _parts(message)

    assert message["Subject"] == subject
    assert message["From"] == "Laboratoires Orvalis <enquete@orvalis.example>"
    assert message["To"] == "anne.lefebvre@cabinet.example"
    assert message["Content-Language"] == language
    assert question in text
    assert question in html
    assert f'<html lang="{language}">' in html
    assert ("Bonjour Anne," if language == "fr" else "Hello Anne,") in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_exactly_eleven_score_links_zero_to_ten_open_this_invitation(language: str) -> None:
    text, html = _parts(_message(contact=_contact(language)))

    visible = [link for link in _links(html) if link["hidden_by_style"] == "no"]
    scores = [link["href"] for link in visible if re.fullmatch(rf"{BASE}/r/[A-Za-z0-9_-]{{40}}/\d+", link["href"])]
    assert [href.rsplit("/", 1)[1] for href in scores] == [str(score) for score in range(11)]
    assert {read_token(href.split("/")[-2], TokenKind.SURVEY) for href in scores} == {INVITATION}
    assert re.findall(rf"{BASE}/r/[A-Za-z0-9_-]{{40}}/(\d+)", text) == [str(score) for score in range(11)]


def test_the_trap_link_is_there_for_scanners_but_hidden_from_people_and_screen_readers() -> None:
    text, html = _parts(_message())

    [trap] = [link for link in _links(html) if link["href"].endswith("/trap")]
    assert read_token(trap["href"].split("/")[-2], TokenKind.SURVEY) == INVITATION
    assert trap["aria-hidden"] == "true"
    assert trap["tabindex"] == "-1"
    assert trap["hidden_by_style"] == "yes"
    assert "/trap" not in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_unsubscribe_link_and_one_click_headers_name_this_invitation(language: str) -> None:
    message = _message(contact=_contact(language))
    text, html = _parts(message)

    reply_token = str(message["Reply-To"]).removeprefix("reply+").split("@")[0]
    url, mailto = (part.strip().strip("<>") for part in str(message["List-Unsubscribe"]).split(","))
    assert re.fullmatch(rf"{BASE}/u/[A-Za-z0-9_-]{{40}}", url)
    assert read_token(url.rsplit("/", 1)[1], TokenKind.UNSUBSCRIBE) == INVITATION
    assert mailto == f"mailto:unsubscribe+{reply_token}@reply.orvalis.example"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in text
    assert any(link["href"] == url for link in _links(html))
    assert message["Auto-Submitted"] is None


def test_replies_go_to_the_invitations_own_reply_address_and_the_invitation_has_a_header_of_its_own() -> None:
    survey = render_survey_email(
        wave=_wave(), contact=_contact(), invitation_id=INVITATION, step="first", reply_token="abcdefgh2345"
    )
    message = email.message_from_bytes(to_mime(survey), policy=default)

    assert message["Reply-To"] == "reply+abcdefgh2345@reply.orvalis.example"
    assert message["X-Closeloop-Invitation"] == INVITATION
    assert message["X-Closeloop-Step"] == "first"
    assert message["Date"].datetime == NOW
    assert str(message["Message-ID"]).endswith("@orvalis.example>")


def test_the_message_is_multipart_alternative_with_the_text_first_in_utf8() -> None:
    message = _message(wave=_wave(intro_fr="Été comme hiver, merci !"))

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert {part.get_content_charset() for part in parts} == {"utf-8"}
    assert "Été comme hiver, merci !" in parts[0].get_content()


def test_the_managers_intro_is_shown_as_written_never_as_markup() -> None:
    intro = 'Merci <script>alert("x")</script> & à bientôt.\n\nDeuxième paragraphe.'

    text, html = _parts(_message(wave=_wave(intro_fr=intro)))

    assert "<script>" not in html
    assert "Merci &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; à bientôt." in html
    assert 'Merci <script>alert("x")</script> & à bientôt.\n\nDeuxième paragraphe.' in text


def test_a_wave_without_texts_gets_the_default_subject_and_intro_of_each_language() -> None:
    french = _message(contact=_contact("fr"))
    english = _message(contact=_contact("en"))

    assert french["Subject"] == "Laboratoires Orvalis : votre avis en une question"
    assert english["Subject"] == "Laboratoires Orvalis: your opinion in one question"
    assert "Cette enquête tient en une seule question" in _parts(french)[0]
    assert "This survey is a single question" in _parts(english)[0]


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("fr", "Rappel : Votre avis compte", "Il y a quelques jours, nous vous avons demandé votre avis."),
        ("en", "Reminder: Your opinion matters", "A few days ago we asked for your opinion."),
    ],
)
def test_a_reminder_is_worded_as_a_reminder(language: str, subject: str, words: str) -> None:
    wave = _wave(subject_fr="Votre avis compte", subject_en="Your opinion matters")

    message = _message(wave=wave, contact=_contact(language), step="reminder")

    assert message["Subject"] == subject
    assert message["X-Closeloop-Step"] == "reminder"
    assert all(words in part for part in _parts(message))


@pytest.mark.parametrize(
    ("language", "prefix", "banner"),
    [("fr", "[ESSAI] ", "ENVOI D'ESSAI"), ("en", "[TEST] ", "TEST SEND")],
)
def test_a_test_send_is_marked_and_names_no_invitation(language: str, prefix: str, banner: str) -> None:
    message = _message(contact=_contact(language), language=language, test=True)

    assert str(message["Subject"]).startswith(prefix)
    assert all(banner in part for part in _parts(message))
    assert message["X-Closeloop-Invitation"] is None
    assert message["X-Closeloop-Test"] == "yes"


def test_a_language_can_be_asked_for_whatever_the_contacts_own() -> None:
    message = _message(contact=_contact("fr"), language="en")

    assert "how likely are you to recommend" in _parts(message)[0]


def test_the_closing_date_is_written_in_the_programme_time_zone_and_the_readers_language() -> None:
    assert "L'enquête est ouverte jusqu'au 23 mars 2026." in _parts(_message(contact=_contact("fr")))[0]
    assert "The survey is open until 23 March 2026." in _parts(_message(contact=_contact("en")))[0]


@pytest.mark.parametrize("address", [None, "", "jean dupont@@cabinet", "no-at-sign"])
def test_an_address_no_header_can_hold_is_a_rendering_error(address: str | None) -> None:
    with pytest.raises(RenderError):
        render_survey_email(
            wave=_wave(), contact=_contact(address=address or ""), invitation_id=INVITATION, step="first"
        )

"""The survey email: rendered from templates/emails/ in the contact's language, then built as MIME.

One NPS question with 11 score links (`/r/{survey token}/{score}`), a hidden trap link for mail
scanners (`/r/{survey token}/trap`), the manager's intro, an unsubscribe link (`/u/{token}`) and the
headers mail clients act on: List-Unsubscribe (https and mailto) with one-click POST, Reply-To
with the invitation's reply token, and `X-Closeloop-Invitation`, which lets an SES event settle
this email's ledger even when its SES message id was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime, make_msgid
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from jinja2 import TemplateError

from closeloop import clock
from closeloop.models import Contact, Wave
from closeloop.settings import get_settings
from closeloop.templating import environment
from closeloop.tokens import generate_reply_token, reply_address, survey_token, unsubscribe_address, unsubscribe_token

Step = Literal["first", "reminder"]
LANGUAGES = ("fr", "en")
SCORES = tuple(range(11))

INVITATION_HEADER = "X-Closeloop-Invitation"
STEP_HEADER = "X-Closeloop-Step"
TEST_HEADER = "X-Closeloop-Test"

# CRLF line ends, headers folded at 78 characters between their parts (List-Unsubscribe keeps its
# URLs whole), quoted-printable bodies wrapped at 76.
MIME_POLICY = SMTP

MONTHS = {  # month names as a date is written in each language
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


class RenderError(Exception):
    """This email cannot be made for this contact (its address, its data, a template): the
    invitation fails visibly and the rest of the wave goes on."""


@dataclass(frozen=True)
class SurveyEmail:
    subject: str
    text: str
    html: str
    headers: dict[str, str]  # every header but From, To, Subject and the MIME ones
    to: str
    sender: str  # "Company <address>"
    language: str
    invitation_id: str
    step: str
    reply_token: str
    test: bool = False
    links: dict[str, str] = field(default_factory=dict)  # "0".."10", "trap", "unsubscribe" -> URL


def base_url() -> str:
    """Where the links of emails point: the HTTP API as customers reach it."""
    url = get_settings().public_base_url
    if url is None:
        raise RuntimeError("PUBLIC_BASE_URL is not set: emails would have no working links")
    return str(url).rstrip("/")


def _language(requested: str | None, contact: Contact) -> str:
    for candidate in (requested, contact.language, get_settings().default_language):
        if candidate in LANGUAGES:
            return str(candidate)
    return "fr"


def _localised(value: Any, language: str) -> str:
    text = getattr(value, language, None) if value is not None else None
    return text.strip() if isinstance(text, str) else ""


def _paragraphs(text: str) -> list[str]:
    """A manager's intro: paragraphs separated by blank lines, each on one line."""
    blocks = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


def _long_date(moment: datetime | None, language: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(get_settings().timezone))
    month = MONTHS[language][local.month - 1]
    if language == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        return f"{day} {month} {local.year}"
    return f"{local.day} {month} {local.year}"


def checked_address(value: str | None, who: str = "contact") -> str:
    """The address as a header can carry it; RenderError naming `who` when it cannot be mailed."""
    if not value:
        raise RenderError(f"the {who} has no email address")
    try:
        address = Address(addr_spec=value.strip())
    except (ValueError, IndexError, MessageError) as error:
        raise RenderError(f"the {who}'s email address cannot be written in a header") from error
    if not address.domain or not address.username:
        raise RenderError(f"the {who}'s email address has no domain")
    return address.addr_spec


def sender() -> str:
    """The From header: the company's name and the sending address (its domain is the SES identity)."""
    settings = get_settings()
    return str(Address(display_name=settings.company_name, addr_spec=settings.sender_address))


def links_for(invitation_id: str) -> dict[str, str]:
    """Every link of an invitation's email: the 11 scores, the trap, the unsubscribe page."""
    base = base_url()
    survey = survey_token(invitation_id)
    links = {str(score): f"{base}/r/{survey}/{score}" for score in SCORES}
    links["trap"] = f"{base}/r/{survey}/trap"
    links["unsubscribe"] = f"{base}/u/{unsubscribe_token(invitation_id)}"
    return links


def render_survey_email(
    *,
    wave: Wave,
    contact: Contact,
    invitation_id: str,
    step: str,
    language: str | None = None,
    test: bool = False,
    reply_token: str | None = None,
) -> SurveyEmail:
    """The survey email of one invitation, in the contact's language unless one is asked for.

    `reply_token` is the stored token of this email's Reply-To (the sender stores it before it
    sends); without one a fresh token is made and not stored (previews, test sends: a reply to
    them finds no invitation and is quarantined). RenderError when the email cannot be made.
    """
    if step not in ("first", "reminder"):
        raise ValueError(f"unknown step {step!r}")
    settings = get_settings()
    lang = _language(language, contact)
    to = checked_address(contact.email)
    token = reply_token or generate_reply_token()
    links = links_for(invitation_id)
    intro = _paragraphs(_localised(wave.intros, lang))
    context: dict[str, Any] = {
        "language": lang,
        "company": settings.company_name,
        "logo_url": settings.company_logo_url,
        "first_name": (contact.first_name or "").strip(),
        "reminder": step == "reminder",
        "test": test,
        "subject": _localised(wave.subjects, lang),
        "score_links": [(score, links[str(score)]) for score in SCORES],
        "trap_url": links["trap"],
        "unsubscribe_url": links["unsubscribe"],
        "closes_on": _long_date(wave.closes_at, lang),
    }
    templates = environment()
    try:
        if not intro:
            intro = _paragraphs(templates.get_template(f"emails/{lang}/intro.txt").render(context))
        context["intro"] = intro
        subject = " ".join(templates.get_template(f"emails/{lang}/subject.txt").render(context).split())
        context["subject"] = subject
        html = templates.get_template(f"emails/{lang}/survey.html").render(context)
        text = templates.get_template(f"emails/{lang}/survey.txt").render(context)
    except TemplateError as error:
        raise RenderError(f"the email template failed: {type(error).__name__}") from error

    now = clock.now()
    domain = settings.sender_address.rpartition("@")[2] or "closeloop.invalid"
    headers = {
        "Date": format_datetime(now),
        "Message-ID": make_msgid(idstring=f"{invitation_id}.{step}", domain=domain),
        "Reply-To": reply_address(token),
        "List-Unsubscribe": f"<{links['unsubscribe']}>, <mailto:{unsubscribe_address(token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Content-Language": lang,
    }
    if test:
        headers[TEST_HEADER] = "yes"
    else:
        headers[INVITATION_HEADER] = invitation_id
        headers[STEP_HEADER] = step
    return SurveyEmail(
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        to=to,
        sender=sender(),
        language=lang,
        invitation_id=invitation_id,
        step=step,
        reply_token=token,
        test=test,
        links=links,
    )


class MailParts(Protocol):
    """What to_mime needs of an email (the survey email, a case or staff email)."""

    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def to(self) -> str: ...
    @property
    def sender(self) -> str: ...


def to_mime(email: MailParts, *, output_policy: Policy | None = None) -> bytes:
    """The email as SES takes it raw: multipart/alternative, plain text first, UTF-8, CRLF.

    `output_policy` writes the headers with other limits (case emails keep their long
    X-Closeloop-Ref on one line, closeloop.mail.case_mail); the bodies are encoded as always."""
    message = EmailMessage(policy=MIME_POLICY)
    try:
        message["From"] = email.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        for name, value in email.headers.items():
            if not name.lower().startswith("content-"):
                message[name] = value
        message.set_content(email.text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
        for name, value in email.headers.items():  # set_content replaces the Content-* headers
            if name.lower().startswith("content-"):
                message[name] = value
        return message.as_bytes(policy=output_policy or MIME_POLICY)
    except (ValueError, TypeError, UnicodeError, MessageError) as error:
        raise RenderError(f"the email cannot be written as MIME: {type(error).__name__}") from error

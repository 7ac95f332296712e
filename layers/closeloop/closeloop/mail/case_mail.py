"""Case and staff emails (docs/callbacks.md "Case and staff emails", "The fallback email"): rendered
from templates/emails/<language>/case_<kind>.txt, then built as MIME with the survey email's blocks.

Each template holds two blocks: `subject` and `body` (plain text, paragraphs separated by blank
lines). The HTML part is the same paragraphs in templates/emails/case_layout.html, the paragraph
that is the email's link shown as a button, so text and HTML never say different things.

Staff emails carry the case's category, score and due date and a link to the case behind sign-in;
never the customer's name or comment (a staff mailbox is not where a verbatim should live). The
fallback email goes to the customer, signed by the caller, with a Reply-To that brings the answer
back to the case; it is a service email about their answer, so it has no unsubscribe link in its
text, only the List-Unsubscribe header that mail clients expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import TemplateError

from closeloop import clock
from closeloop.mail.survey import LANGUAGES, MIME_POLICY, MONTHS, RenderError, base_url, checked_address, to_mime
from closeloop.settings import get_settings
from closeloop.templating import environment
from closeloop.tokens import reply_address, unsubscribe_address, unsubscribe_token

REF_HEADER = "X-Closeloop-Ref"
HEADERS_POLICY = MIME_POLICY.clone(max_line_length=998)
"""Header lines up to RFC 5322's limit: the reference (about 100 characters, no space to fold at)
stays whole and readable, where 78 would turn it into an encoded word."""
STAFF_KINDS = ("notify_assigned", "notify_reply", "remind", "escalate")
CATEGORIES = ("detractor", "passive", "promoter")

_DAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


@dataclass(frozen=True)
class CaseEmail:
    kind: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]  # every header but From, To, Subject and the MIME ones
    to: str
    sender: str
    language: str
    reply_token: str | None = None
    links: dict[str, str] = field(default_factory=dict)


def case_mime(email: CaseEmail) -> bytes:
    """The email as SES takes it raw (closeloop.mail.survey.to_mime), its reference on one line."""
    return to_mime(email, output_policy=HEADERS_POLICY)


def language_of(*candidates: str | None) -> str:
    for candidate in (*candidates, get_settings().default_language):
        if candidate in LANGUAGES:
            return str(candidate)
    return "fr"


def due_text(moment: datetime | None, language: str) -> str:
    """A date and time as a person reads it, in the programme's time zone: `lundi 24 novembre 2026
    à 11:00`, `Monday 24 November 2026, 11:00`."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(get_settings().timezone))
    day, month = _DAYS[language][local.weekday()], MONTHS[language][local.month - 1]
    if language == "fr":
        number = "1er" if local.day == 1 else str(local.day)
        return f"{day} {number} {month} {local.year} à {local:%H:%M}"
    return f"{day} {local.day} {month} {local.year}, {local:%H:%M}"


def case_url(case_id: str) -> str:
    """The staff page of a case (behind sign-in)."""
    settings = get_settings()
    root = settings.staff_app_url or base_url()
    return f"{str(root).rstrip('/')}/staff/cases/{case_id}"


def _from(display: str) -> str:
    return str(Address(display_name=display, addr_spec=get_settings().sender_address))


def _paragraphs(text: str) -> list[str]:
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


def _render(template_name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, text and HTML of a case template."""
    templates = environment()
    try:
        template = templates.get_template(template_name)
        subject = " ".join("".join(template.blocks["subject"](template.new_context(context))).split())
        body = "".join(template.blocks["body"](template.new_context(context)))
        paragraphs = _paragraphs(body)
        html = templates.get_template("emails/case_layout.html").render(
            {**context, "subject": subject, "paragraphs": [p.split("\n") for p in paragraphs]}
        )
    except (TemplateError, KeyError) as error:
        raise RenderError(f"the email template failed: {type(error).__name__}") from error
    text = "\n\n".join(paragraphs) + "\n"
    return subject, text, html


def _headers(thread_id: str, message_key: str, language: str, kind: str) -> dict[str, str]:
    domain = get_settings().sender_address.rpartition("@")[2] or "closeloop.invalid"
    return {
        "Date": format_datetime(clock.now()),
        "Message-ID": make_msgid(idstring=f"{thread_id}.{kind}", domain=domain),
        REF_HEADER: f"msg:{thread_id}:{message_key}",
        "Content-Language": language,
    }


def render_staff_email(
    kind: str,
    *,
    to: str,
    language: str,
    case_id: str,
    message_key: str,
    category: str,
    score: Any,
    confirmed: bool,
    due_at: datetime | None,
    recipient_name: str = "",
    assignee_name: str = "",
    days_overdue: int = 0,
) -> CaseEmail:
    """An email to a staff member about a case, in their language."""
    if kind not in STAFF_KINDS:
        raise ValueError(f"not a staff email: {kind!r}")
    lang = language_of(language)
    settings = get_settings()
    link = case_url(case_id)
    context: dict[str, Any] = {
        "language": lang,
        "company": settings.company_name,
        "recipient_name": (recipient_name or "").strip(),
        "category": category if category in CATEGORIES else "detractor",
        "score": int(score) if score is not None else None,
        "confirmed": confirmed,
        "due_on": due_text(due_at, lang),
        "zone_city": get_settings().timezone.rpartition("/")[2].replace("_", " "),  # "Paris": "heure de Paris"
        "case_url": link,
        "assignee_name": (assignee_name or "").strip(),
        "days_overdue": days_overdue,
        "link_label": "",
    }
    subject, text, html = _render(f"emails/{lang}/case_{kind}.txt", context)
    headers = _headers(case_id, message_key, lang, kind)
    headers["Auto-Submitted"] = "auto-generated"  # no out-of-office answer back to the programme
    return CaseEmail(
        kind=kind,
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        to=checked_address(to, "staff member"),
        sender=_from(settings.company_name),
        language=lang,
        links={"case": link},
    )


def render_fallback_email(
    *,
    to: str | None,
    language: str,
    case_id: str,
    message_key: str,
    category: str,
    first_name: str | None,
    last_name: str | None,
    caller_name: str | None,
    reply_token: str,
    called: bool = True,
) -> CaseEmail:
    """The fallback email of a case (R6): we called (or, with no phone number, wanted to call), we
    would like to talk; reply to this email."""
    lang = language_of(language)
    settings = get_settings()
    recipient = checked_address(to, "contact")
    caller = (caller_name or "").strip()
    context: dict[str, Any] = {
        "language": lang,
        "company": settings.company_name,
        "first_name": (first_name or "").strip(),
        "last_name": (last_name or "").strip(),
        "caller_name": caller,
        "category": category if category in CATEGORIES else "detractor",
        "called": called,
        "case_url": "",
    }
    subject, text, html = _render(f"emails/{lang}/case_fallback.txt", context)
    unsubscribe = f"{base_url()}/u/{unsubscribe_token(case_id)}"
    headers = _headers(case_id, message_key, lang, "fallback")
    headers.update(
        {
            "Reply-To": reply_address(reply_token),
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:{unsubscribe_address(reply_token)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    )
    display = f"{caller} - {settings.company_name}" if caller else settings.company_name
    return CaseEmail(
        kind="fallback",
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        to=recipient,
        sender=_from(display),
        language=lang,
        reply_token=reply_token,
        links={"unsubscribe": unsubscribe},
    )

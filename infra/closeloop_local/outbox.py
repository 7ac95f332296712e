"""The local outbox: every email sent through SES, newest first, as its recipient would see it.

moto's server runs in the runtime's process, so SES's sent messages are read from its backend
(every account and region). `GET /_local/outbox` renders them: headers, the text part, and the
HTML part in a sandboxed iframe whose links open in a new tab (they point at the gateway).
`GET /_local/outbox.json` gives the same to tests and scripts (`?to=`, `?invitation=`, `?limit=`);
`GET /_local/outbox/{message_id}` the raw message.
"""

from __future__ import annotations

import email
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from closeloop_local.web import HttpRequest, HttpResponse, json_response

if TYPE_CHECKING:
    from closeloop_local.gateway import Gateway

DEFAULT_LIMIT = 50
_LINK = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass
class OutboxMessage:
    """One email SES accepted."""

    id: str
    source: str
    destinations: list[str]
    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    date: str | None = None
    text: str = ""
    html: str = ""
    raw: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def links(self) -> list[str]:
        return _LINK.findall(self.html) if self.html else re.findall(r"https?://\S+", self.text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.header("From") or self.source,
            "to": self.destinations,
            "subject": self.subject,
            "date": self.date,
            "headers": [[name, value] for name, value in self.headers],
            "text": self.text,
            "html": self.html,
            "links": self.links(),
        }


def _parse_raw(message_id: str, source: str, destinations: list[str], raw: str) -> OutboxMessage:
    parsed = email.message_from_string(raw, policy=default)
    found = OutboxMessage(message_id, source, sorted(set(_addresses(destinations))), raw=raw)
    found.headers = [(name, str(value)) for name, value in parsed.items()]
    found.subject = str(parsed.get("Subject", ""))
    date = parsed.get("Date")
    if date:
        try:
            found.date = parsedate_to_datetime(str(date)).isoformat()
        except (TypeError, ValueError):
            found.date = str(date)
    if isinstance(parsed, EmailMessage):
        for kind in ("plain", "html"):
            part = parsed.get_body((kind,))
            if part is not None and isinstance(part, EmailMessage):
                content = str(part.get_content()).replace("\r\n", "\n")
                if kind == "plain":
                    found.text = content
                else:
                    found.html = content
    return found


def _addresses(destinations: list[str]) -> list[str]:
    return [email.utils.parseaddr(value)[1] or value for value in destinations]


def _from_moto(message: Any) -> OutboxMessage | None:
    raw = getattr(message, "raw_data", None)
    if isinstance(raw, str):
        return _parse_raw(message.id, str(message.source), list(message.destinations), raw)
    body = getattr(message, "body", None)
    if isinstance(body, str):  # SES's simple send_email
        destinations = message.destinations
        flat = (
            [address for values in destinations.values() for address in values]
            if isinstance(destinations, dict)
            else []
        )
        found = OutboxMessage(message.id, str(message.source), _addresses(flat), subject=str(message.subject))
        found.text = body
        return found
    return None


def sent_messages() -> list[OutboxMessage]:
    """Every email moto's SES accepted, in every account and region, newest first."""
    from moto.backends import get_backend

    found: list[OutboxMessage] = []
    for regions in list(get_backend("ses").values()):
        for backend in list(regions.values()):
            for message in list(getattr(backend, "sent_messages", [])):
                parsed = _from_moto(message)
                if parsed is not None:
                    found.append(parsed)
    found.reverse()  # moto appends: the last sent is the newest
    return found


def _query(request: HttpRequest) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(request.raw_query).items()}


def select(messages: list[OutboxMessage], query: dict[str, str]) -> list[OutboxMessage]:
    to = query.get("to", "").strip().lower()
    invitation = query.get("invitation", "").strip()
    if to:
        messages = [m for m in messages if to in (address.lower() for address in m.destinations)]
    if invitation:
        messages = [m for m in messages if m.header("X-Closeloop-Invitation") == invitation]
    try:
        limit = max(1, min(1000, int(query.get("limit", DEFAULT_LIMIT))))
    except ValueError:
        limit = DEFAULT_LIMIT
    return messages[:limit]


# ------------------------------------------------------------------ routes


def get_json(request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
    messages = sent_messages()
    chosen = select(messages, _query(request))
    return json_response(200, {"count": len(messages), "messages": [message.as_dict() for message in chosen]})


def get_raw(_request: HttpRequest, parameters: dict[str, str]) -> HttpResponse:
    for message in sent_messages():
        if message.id == parameters.get("message_id") and message.raw:
            return HttpResponse(200, [("content-type", "message/rfc822; charset=utf-8")], message.raw.encode())
    return json_response(404, {"message": "no such message in the outbox"})


def get_page(request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
    messages = sent_messages()
    chosen = select(messages, _query(request))
    body = _PAGE.format(count=len(messages), shown=len(chosen), items="\n".join(_item(m) for m in chosen) or _EMPTY)
    headers = [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")]
    return HttpResponse(200, headers, body.encode())


def register(gateway: Gateway) -> None:
    """Serve the outbox on the gateway's local routes."""
    gateway.add_local_route("GET", "/_local/outbox", get_page)
    gateway.add_local_route("GET", "/_local/outbox.json", get_json)
    gateway.add_local_route("GET", "/_local/outbox/{message_id}", get_raw)


# ------------------------------------------------------------------ the page

_EMPTY = '<p class="empty">No email sent yet. Create a wave starting now, then move the clock.</p>'

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>closeloop - local outbox</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f3f4f6; color: #1f2933; }}
header {{ padding: 16px 24px; background: #0b3d5c; color: #fff; }}
header h1 {{ margin: 0; font-size: 20px; }}
header p {{ margin: 4px 0 0; opacity: .85; font-size: 14px; }}
main {{ padding: 16px 24px; max-width: 1100px; }}
article {{ background: #fff; border-radius: 8px; margin: 0 0 20px; padding: 16px 20px;
  box-shadow: 0 1px 2px rgba(0,0,0,.08); }}
article h2 {{ margin: 0 0 6px; font-size: 17px; }}
.meta {{ font-size: 13px; color: #52606d; margin: 0 0 10px; }}
details {{ margin: 8px 0; font-size: 13px; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; vertical-align: top; padding: 2px 8px 2px 0; font-family: ui-monospace, monospace;
  word-break: break-all; }}
pre {{ white-space: pre-wrap; background: #f8f9fa; padding: 10px; border-radius: 4px; font-size: 13px; }}
iframe {{ width: 100%; height: 760px; border: 1px solid #e4e7eb; border-radius: 4px; background: #fff; }}
.empty {{ font-size: 15px; }}
</style>
</head>
<body>
<header><h1>Local outbox</h1>
<p>{shown} of {count} email(s) sent through SES, newest first.
JSON: <a style="color:#fff" href="/_local/outbox.json">/_local/outbox.json</a></p></header>
<main>
{items}
</main>
</body>
</html>
"""


def _item(message: OutboxMessage) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in message.headers
    )
    frame = ""
    if message.html:
        # Links open in a new tab, outside the sandbox; no script of the email ever runs.
        document = message.html.replace("<head>", '<head><base target="_blank">', 1)
        frame = (
            f'<iframe title="HTML part of {html.escape(message.subject, quote=True)}" '
            'sandbox="allow-popups allow-popups-to-escape-sandbox" '
            f'srcdoc="{html.escape(document, quote=True)}"></iframe>'
        )
    text = (
        f"<details><summary>Text part</summary><pre>{html.escape(message.text)}</pre></details>" if message.text else ""
    )
    to = ", ".join(message.destinations)
    return (
        f'<article id="m-{html.escape(message.id, quote=True)}">'
        f"<h2>{html.escape(message.subject or '(no subject)')}</h2>"
        f'<p class="meta">To {html.escape(to)} &middot; {html.escape(message.date or "")} &middot; '
        f'<a href="/_local/outbox/{html.escape(message.id, quote=True)}">raw</a></p>'
        f"<details><summary>Headers</summary><table>{rows}</table></details>"
        f"{text}{frame}</article>"
    )

"""Helpers of the capture tests: an invitation as the sender leaves it, and the capture function's
HTTP events (the sample events of events/http, aimed at one token)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from closeloop import clock
from closeloop.models import Invitation
from closeloop.models.invitation import SendStep
from tests.integration.dispatch import make_contact, make_wave, reserve
from tests.support import LambdaContext, load_event, load_handler

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

_handler: list[Callable[[dict[str, Any], Any], Any]] = []


def capture_handler() -> Callable[[dict[str, Any], Any], Any]:
    if not _handler:
        _handler.append(load_handler("capture"))
    return _handler[0]


def sent_invitation(
    *,
    language: str = "fr",
    first_name: str = "Élodie",
    sent_at: datetime | None = None,
    delivered: bool = True,
    closes_in: timedelta = timedelta(days=21),
    address: str | None = None,
) -> Invitation:
    """An invitation whose first email was sent (and delivered), with what the send copies onto it."""
    now = clock.now()
    sent_at = sent_at or now - timedelta(hours=2)
    wave = make_wave(closes_at=now + closes_in)
    contact = make_contact(
        address or f"capture.{language}.{now.timestamp():.6f}@pharmacie.example",
        first_name=first_name,
        language=language,
        weight=1.5,
    )
    _, [invitation_id] = reserve(wave, [contact])
    invitation = Invitation.get(invitation_id)
    invitation.status = "delivered" if delivered else "sent"
    invitation.first = SendStep(state="sent", at=sent_at, batch_id=invitation.first.batch_id, attempts=1)
    invitation.first_name = first_name
    invitation.weight = contact.weight
    invitation.closes_at = wave.closes_at
    invitation.delivered_at = sent_at + timedelta(seconds=4) if delivered else None
    invitation.save()
    return invitation


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def call(
    method: str,
    token: str,
    score: str | None = None,
    *,
    form: dict[str, str] | list[tuple[str, str]] | None = None,
    raw_body: str | None = None,
    user_agent: str | None = BROWSER,
    accept_language: str = "fr-FR,fr;q=0.9,en;q=0.8",
    source_ip: str = "198.51.100.23",
) -> Answer:
    """The capture function's answer to one request, as API Gateway would hand it over."""
    if method == "POST":
        event = load_event("http/survey-send.json")
        path = f"/r/{token}"
        route = "POST /r/{token}"
        event["pathParameters"] = {"token": token}
        body = raw_body if raw_body is not None else urlencode(form or {})
        event["body"] = base64.b64encode(body.encode()).decode()
        event["isBase64Encoded"] = True
    else:
        event = load_event("http/survey-click.json")
        path = f"/r/{token}/{score}"
        route = f"{method} /r/{{token}}/{{score}}"
        event["pathParameters"] = {"token": token, "score": score}
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["sourceIp"] = source_ip
    event["requestContext"]["http"]["userAgent"] = user_agent or ""
    event["headers"]["accept-language"] = accept_language
    if user_agent is None:
        event["headers"].pop("user-agent", None)
    else:
        event["headers"]["user-agent"] = user_agent
    result = capture_handler()(event, LambdaContext(function_name="capture"))
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return Answer(int(result["statusCode"]), headers, body)

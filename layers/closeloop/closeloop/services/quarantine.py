"""Quarantined inbound mail, for managers (docs/inbound-mail.md): a month's list, newest first, and
"handled" marks. The raw mail stays under quarantine/ for its 30 days; the list never shows it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pynamodb.exceptions import DoesNotExist, UpdateError

from closeloop import clock
from closeloop.errors import Conflict, InvalidInput, NotFound
from closeloop.models import Quarantine
from closeloop.observability import logger
from closeloop.settings import get_settings

Language = Literal["fr", "en"]
PAGE_SIZE = 50
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

REASONS: dict[str, dict[str, str]] = {
    "spam": {"fr": "signalé comme spam par SES", "en": "marked as spam by SES"},
    "virus": {"fr": "virus détecté par SES", "en": "virus found by SES"},
    "no_token": {"fr": "adresse sans jeton de réponse", "en": "no reply token in the address"},
    "unknown_token": {"fr": "jeton de réponse inconnu", "en": "unknown reply token"},
    "expired_token": {"fr": "jeton de réponse expiré", "en": "expired reply token"},
    "unparseable": {"fr": "message illisible", "en": "unreadable message"},
    "too_large": {"fr": "message trop volumineux", "en": "message too large"},
}


def current_month() -> str:
    return clock.now().astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m")


def _cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _start(cursor: str | None, month: str) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidInput("`next` is not a cursor this list gave") from error
    names = {"quarantine_id", "received_month", "received_at"}
    if (
        not isinstance(key, dict)
        or set(key) != names
        or not all(isinstance(value, dict) and isinstance(value.get("S"), str) for value in key.values())
        or key["received_month"]["S"] != month
    ):
        raise InvalidInput("`next` is not a cursor of this month's list")
    return key


def view(item: Quarantine, language: Language) -> dict[str, Any]:
    return {
        "id": item.quarantine_id,
        "received_at": item.received_at.isoformat(),
        "reason": item.reason,
        "reason_text": REASONS.get(item.reason, {}).get(language, item.reason),
        "sender": item.sender,
        "subject": item.subject,
        "size": int(item.size or 0),
        "handled": item.handled_at is not None,
        "handled_by": item.handled_by,
        "handled_at": item.handled_at.isoformat() if item.handled_at else None,
    }


def list_quarantine(
    month: str | None = None, *, cursor: str | None = None, language: Language = "en"
) -> dict[str, Any]:
    """A month's quarantined mail (default: this month), newest first, PAGE_SIZE a page; mail past
    its retention (TTL lags) is left out."""
    month = month or current_month()
    if not _MONTH.match(month):
        raise InvalidInput("month is YYYY-MM")
    results = Quarantine.by_month.query(
        month,
        scan_index_forward=False,
        limit=PAGE_SIZE,
        last_evaluated_key=_start(cursor, month),
    )
    now = clock.now()
    items = [view(item, language) for item in results if item.expires_at is None or item.expires_at > now]
    return {"month": month, "items": items, "next": _cursor(results.last_evaluated_key)}


def mark_handled(quarantine_id: str, *, by: str, language: Language = "en") -> dict[str, Any]:
    """Mark a quarantined mail handled by this staff member, once: marked by someone else already
    is a 409; the same person again gets the same answer."""
    try:
        item = Quarantine.get(quarantine_id)
    except DoesNotExist as error:
        raise NotFound("no such quarantined mail") from error
    if item.expires_at is not None and item.expires_at <= clock.now():
        raise NotFound("no such quarantined mail")
    now = clock.now()
    try:
        item.update(
            actions=[
                Quarantine.handled_at.set(now),
                Quarantine.handled_by.set(by),
                Quarantine.updated_at.set(now),
            ],
            condition=Quarantine.handled_at.does_not_exist(),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        item.refresh(consistent_read=True)
        if item.handled_by != by:
            raise Conflict(
                "already marked handled by someone else",
                details={"handled_by": item.handled_by, "handled_at": _iso(item.handled_at)},
            ) from error
    logger.info("quarantined mail handled", extra={"quarantine_id": quarantine_id})
    return view(item, language)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

"""A survey's thread as a staff member reads it: the response (if the customer answered) and every
mail of the thread (replies, auto-replies, unsubscribe requests; later the case's emails)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from closeloop.errors import NotFound
from closeloop.models import Invitation, Message, Response

MESSAGES_MAX = 200


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _response(response: Response) -> dict[str, Any]:
    return {
        "score": int(response.score),
        "category": response.category,
        "confirmed": response.confirmed,
        "source": response.source,
        "comment": response.comment,
        "created_at": _iso(response.created_at),
        "updated_at": _iso(response.updated_at),
    }


def message_view(message: Message) -> dict[str, Any]:
    return {
        "message_key": message.message_key,
        "kind": message.kind,
        "direction": message.direction,
        "at": _iso(message.at),
        "subject": message.subject,
        "body": message.body,
        "attachment_names": list(message.attachment_names or []),
        "flags": sorted(message.flags or []),
        "from_contact": message.from_contact,
        "attention": message.attention,
    }


def show_response(response_id: str) -> dict[str, Any]:
    """The response and its thread's messages, oldest first. The thread is the invitation's: a
    customer who replied without answering has `response: null` and their mail; an id that names
    no invitation is NotFound."""
    try:
        invitation = Invitation.get(response_id)
    except DoesNotExist as error:
        raise NotFound("no such response") from error
    try:
        response: Response | None = Response.get(response_id)
    except DoesNotExist:
        response = None
    messages = [message_view(item) for item in Message.query(response_id, limit=MESSAGES_MAX)]
    return {
        "response_id": response_id,
        "wave_id": invitation.wave_id,
        "contact_id": invitation.contact_id,
        "language": invitation.language,
        "response": _response(response) if response else None,
        "replied_at": _iso(invitation.replied_at),
        "reply_count": int(invitation.reply_count or 0),
        "unsubscribed_at": _iso(invitation.unsubscribed_at),
        "unsubscribe_source": invitation.unsubscribe_source,
        "messages": messages,
    }

"""Tokens (docs/data-model.md 6): signed survey and unsubscribe tokens, and stored reply tokens.

Signed tokens are stateless: `base64url(kind | key id | object id | mac)`, 40 characters. The
kind is inside the MAC, so a survey token is never an unsubscribe token; the key id names the key
that signed it, so keys rotate (sign with the current key, verify with any key still listed).
Reply tokens are short, random and lower case (mail servers may change the case of an address);
only their SHA-256 is stored, in the ReplyTokens table, pointing at one invitation or case.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from enum import IntEnum
from typing import Literal

from closeloop import clock
from closeloop.errors import NotFound
from closeloop.models.reply_token import ReplyToken
from closeloop.secrets import token_keys
from closeloop.settings import get_settings


class TokenKind(IntEnum):
    """The first byte of a signed token: what it gives access to."""

    SURVEY = 0x01
    UNSUBSCRIBE = 0x02
    TRAP = 0x03


_MAC_BYTES = 12
_ID_BYTES = 16
_TOKEN_BYTES = 2 + _ID_BYTES + _MAC_BYTES
TOKEN_LENGTH = 40  # base64url of 30 bytes, no padding
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]{40}$")
_KEY_NAME = re.compile(r"^k([1-9][0-9]{0,2})$")

REPLY_TOKEN_LENGTH = 12
_REPLY_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
_REPLY_TOKEN = re.compile(r"^[a-z2-7]{12}$")

ReplyKind = Literal["invitation", "case"]


class _NotAToken(Exception):
    pass


def _invitation_bytes(invitation_id: str) -> bytes:
    """The 16 bytes behind an invitation id (26 lower-case base32 characters)."""
    if len(invitation_id) != 26:
        raise ValueError("an invitation id has 26 characters")
    try:
        raw = base64.b32decode(invitation_id.upper() + "======")
    except binascii.Error as error:
        raise ValueError("an invitation id is base32") from error
    if len(raw) != _ID_BYTES:
        raise ValueError("an invitation id is 16 bytes")
    return raw


def _invitation_id(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def _key_byte(name: str) -> int:
    match = _KEY_NAME.match(name)
    if match is None or not 1 <= int(match.group(1)) <= 255:
        raise ValueError(f"token key names are k1 to k255, not {name!r}")
    return int(match.group(1))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(kind: TokenKind, invitation_id: str) -> str:
    """A token of this kind for this invitation, signed with the current key."""
    current, keys = token_keys()
    payload = bytes([int(kind), _key_byte(current)]) + _invitation_bytes(invitation_id)
    token = base64.urlsafe_b64encode(payload + _mac(keys[current], payload)).decode().rstrip("=")
    assert len(token) == TOKEN_LENGTH
    return token


def survey_token(invitation_id: str) -> str:
    """The token of the score links `/r/{token}/{score}` (and of the hidden trap link)."""
    return sign(TokenKind.SURVEY, invitation_id)


def unsubscribe_token(invitation_id: str) -> str:
    """The token of the unsubscribe link `/u/{token}` and of the List-Unsubscribe URL."""
    return sign(TokenKind.UNSUBSCRIBE, invitation_id)


def _verify(token: str, kind: TokenKind) -> str:
    if not isinstance(token, str) or not _TOKEN_CHARS.match(token):
        raise _NotAToken
    raw = base64.urlsafe_b64decode(token + "==")
    if len(raw) != _TOKEN_BYTES or raw[0] != int(kind):
        raise _NotAToken
    _, keys = token_keys()
    by_byte: dict[int, bytes] = {}
    for name, value in keys.items():
        try:
            by_byte[_key_byte(name)] = value
        except ValueError:
            continue
    key = by_byte.get(raw[1])
    if key is None:
        raise _NotAToken
    payload, mac = raw[: 2 + _ID_BYTES], raw[2 + _ID_BYTES :]
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise _NotAToken
    return _invitation_id(payload[2:])


def read_token(token: str, kind: TokenKind | str) -> str:
    """The invitation id a token of this kind names; NotFound for anything else.

    Every failure (length, alphabet, kind, unknown or retired key, MAC) gives the same answer,
    so a page shows one friendly 404 and nothing tells a forger what was wrong.
    """
    try:
        return _verify(token, kind if isinstance(kind, TokenKind) else TokenKind[kind.upper()])
    except (_NotAToken, KeyError, ValueError, binascii.Error) as error:
        raise NotFound("this link is not valid") from error


# ------------------------------------------------------------------ reply tokens (stored)


def reply_token_hash(token: str) -> str:
    """What the ReplyTokens table stores of a reply token: hex SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_reply_token() -> str:
    """12 characters of [a-z2-7]: 60 random bits, safe in a lower-cased local part."""
    return "".join(secrets.choice(_REPLY_CHARS) for _ in range(REPLY_TOKEN_LENGTH))


def is_reply_token(value: str) -> bool:
    return bool(_REPLY_TOKEN.match(value))


def reply_token_item(token: str, kind: ReplyKind, object_id: str, *, step: str | None = None) -> ReplyToken:
    """The ReplyTokens item of a token (not saved): its hash, what it points at, when it expires."""
    now = clock.now()
    return ReplyToken(
        reply_token_hash(token),
        kind=kind,
        object_id=object_id,
        step=step,
        expires_at=now + timedelta(days=get_settings().reply_token_days),
    )


def new_reply_token(kind: ReplyKind, object_id: str, *, step: str | None = None) -> str:
    """A new reply token for an invitation or a case, stored (hashed) before it is used."""
    token = generate_reply_token()
    reply_token_item(token, kind, object_id, step=step).save()
    return token


def read_reply_token(token: str) -> ReplyToken:
    """The stored item of a reply token (the local part after `reply+` or `unsubscribe+`).

    NotFound when it is malformed, unknown or expired (TTL deletion lags: checked here).
    """
    token = token.strip().lower()
    if not is_reply_token(token):
        raise NotFound("not a reply token")
    try:
        item = ReplyToken.get(reply_token_hash(token))
    except ReplyToken.DoesNotExist as error:
        raise NotFound("unknown reply token") from error
    if item.expires_at is not None and item.expires_at <= clock.now():
        raise NotFound("expired reply token")
    return item


def reply_address(token: str) -> str:
    """The Reply-To address that brings a customer's answer back to the token's object."""
    return f"reply+{token}@{get_settings().reply_domain}"


def unsubscribe_address(token: str) -> str:
    """The List-Unsubscribe mailto address: same token, the prefix says what to do."""
    return f"unsubscribe+{token}@{get_settings().reply_domain}"

"""Ids: ULIDs (time-ordered, 26 Crockford base32 characters) from the domain clock."""

from __future__ import annotations

import secrets

from closeloop import clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """A new ULID: 48 bits of milliseconds, then 80 random bits."""
    millis = int(clock.now().timestamp() * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))

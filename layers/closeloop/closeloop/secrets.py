"""Secrets (HMAC keys) read through Powertools Parameters, cached; and the keyed hashes built on them."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from typing import Any

from closeloop.settings import get_settings

CACHE_SECONDS = 300


_provider: Any = None


def _secret(name: str) -> str:
    global _provider  # noqa: PLW0603 - one provider (and its cache) per container
    if _provider is None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        from closeloop import aws

        _provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
    value = _provider.get(name, max_age=CACHE_SECONDS)
    return value if isinstance(value, str) else bytes(value).decode()


def forget() -> None:
    """Drop the provider and its cache (tests switching endpoints)."""
    global _provider  # noqa: PLW0603
    _provider = None


def hash_key() -> bytes:
    """The key of email lookups and suppressions. It never rotates: every opt-out is keyed by it."""
    return _secret(get_settings().hash_key_secret).encode()


def token_keys() -> tuple[str, dict[str, bytes]]:
    """The id of the current token key, and every key still accepted, by id."""
    raw: dict[str, Any] = json.loads(_secret(get_settings().token_keys_secret))
    current = str(raw.pop("current"))
    return current, {kid: str(value).encode() for kid, value in raw.items()}


def normalise_email(email: str) -> str:
    """The form of an address that decides whether two addresses are the same person."""
    return unicodedata.normalize("NFC", email).strip().lower()


def email_hash(email: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of the normalised email, hex: the key of lookups and suppressions."""
    digest = hmac.new(key if key is not None else hash_key(), normalise_email(email).encode(), hashlib.sha256)
    return digest.hexdigest()

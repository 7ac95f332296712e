"""The signed-in staff member, read from the JWT claims API Gateway hands to the function."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str
    groups: frozenset[str]
    locale: str | None = None


def parse_groups(raw: Any) -> frozenset[str]:
    """`cognito:groups` as API Gateway gives it: one string such as "[caller manager]".

    A JSON list, a real list or a comma-separated string are read too, so the same code works
    behind a REST API, a Function URL or a test.
    """
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple | set | frozenset):
        return frozenset(str(item).strip() for item in raw if str(item).strip())
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, list):
            return parse_groups(loaded)
        text = text[1:-1]
    parts = text.replace(",", " ").split()
    return frozenset(part.strip().strip('"') for part in parts if part.strip().strip('"'))


def identity_from_event(event: Mapping[str, Any]) -> Identity | None:
    """The identity of an HTTP API event whose route has the JWT authorizer, else None."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    if not isinstance(claims, Mapping) or not claims.get("sub"):
        return None
    return Identity(
        subject=str(claims["sub"]),
        email=str(claims.get("email", "")).strip().lower(),
        groups=parse_groups(claims.get("cognito:groups")),
        locale=str(claims["locale"]) if claims.get("locale") else None,
    )

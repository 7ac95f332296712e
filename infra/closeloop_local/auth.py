"""The local JWT issuer that stands for Cognito: ID tokens for staff members, checked as API Gateway does.

Tokens are RS256, shaped as Cognito ID tokens, with the issuer and audience of the template's
JWT authorizer; the gateway checks them as API Gateway's JWT authorizer would and hands the
claims to the function as API Gateway does: every value a string, lists as "[a b]".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from closeloop_local.web import HttpRequest

TOKEN_LIFETIME = 3600


class Unauthorized(Exception):
    """No token, or one API Gateway's JWT authorizer would refuse."""


@dataclass(frozen=True)
class JwtAuthorizer:
    """A JWT authorizer of an HTTP API, its values resolved from the template."""

    name: str
    issuer: str
    audience: tuple[str, ...]
    identity_source: str = "$request.header.Authorization"

    def token_in(self, request: HttpRequest) -> str:
        """The token the request carries where the authorizer's identity source says."""
        source = self.identity_source.split(",")[0].strip()
        value: str | None = None
        if source.startswith("$request.header."):
            value = request.header(source.removeprefix("$request.header."))
        if not value:
            raise Unauthorized("no token")
        scheme, _, rest = value.strip().partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest else value.strip()


class JwtIssuer:
    """An RSA key made at start, the tokens it signs, and their check."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = uuid.uuid4().hex

    def issue(
        self,
        authorizer: JwtAuthorizer,
        *,
        subject: str,
        email: str,
        groups: Iterable[str],
        locale: str | None,
        lifetime: int = TOKEN_LIFETIME,
    ) -> str:
        """An ID token as Cognito would give this staff member."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "email": email,
            "email_verified": True,
            "cognito:username": subject,
            "cognito:groups": list(groups),
            "iss": authorizer.issuer,
            "aud": authorizer.audience[0],
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
        }
        if locale:
            claims["locale"] = locale
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def verify(self, token: str, authorizer: JwtAuthorizer) -> dict[str, Any]:
        """The token's claims if API Gateway would accept it for this authorizer; else Unauthorized."""
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key_id:
                raise Unauthorized("unknown signing key")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                issuer=authorizer.issuer,
                options={"verify_aud": False, "require": ["exp", "iat", "iss"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(str(error)) from error
        if claims.get("aud") not in authorizer.audience and claims.get("client_id") not in authorizer.audience:
            raise Unauthorized("audience not accepted")
        return claims

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set, as Cognito publishes it."""
        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        key.update({"kid": self.key_id, "alg": "RS256", "use": "sig"})
        return {"keys": [key]}


def _claim_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_claim_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def claims_for_lambda(claims: Mapping[str, Any]) -> dict[str, str]:
    """The claims as API Gateway hands them to a function: "[caller manager]", "1700000000", "true"."""
    return {name: _claim_text(value) for name, value in claims.items()}


def login(issuer: JwtIssuer, authorizer: JwtAuthorizer, email: str) -> tuple[int, dict[str, Any]]:
    """A token for the staff member who signs in with this email, as (status, answer)."""
    from closeloop.models import Staff

    staff = Staff.find_by_email(email)
    if staff is None:
        return 404, {"message": "no staff member signs in with this email"}
    if not staff.active:
        return 403, {"message": "this staff member is inactive"}
    token = issuer.issue(
        authorizer,
        subject=staff.staff_id,
        email=staff.email,
        groups=sorted(staff.groups or ()),
        locale=staff.language,
    )
    return 200, {"id_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}

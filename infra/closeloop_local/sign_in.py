"""The hosted UI of the local runtime: the staff pages sign in here as they do at Cognito's.

The same OAuth 2.0 authorization code flow with PKCE as Cognito's hosted UI, at the same paths
under /_local/ (`/oauth2/authorize`, `/oauth2/token`, `/logout`), so that the staff pages run one
code path here and on AWS. Instead of a password form, the authorize page lists the staff
directory and lets a person pick who to be (GET /_local/login shows the same list).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from closeloop_local import auth
from closeloop_local.web import HttpRequest, HttpResponse, json_response

CODE_LIFETIME = 300


@dataclass(frozen=True)
class _Grant:
    email: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    issued_at: float


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    groups: tuple[str, ...]
    language: str
    department: str


def directory_people() -> list[Person]:
    """The active staff members of the directory, sorted by name."""
    from closeloop.models import Staff

    people = [
        Person(
            name=staff.name or staff.email,
            email=staff.email,
            groups=tuple(sorted(staff.groups or ())),
            language=staff.language or "",
            department=staff.department or "",
        )
        for staff in Staff.scan()
        if staff.active
    ]
    return sorted(people, key=lambda person: (person.name.lower(), person.email))


def _redirect(location: str) -> HttpResponse:
    return HttpResponse(302, [("location", location), ("cache-control", "no-store")], b"")


def _html(status: int, body: str) -> HttpResponse:
    return HttpResponse(
        status,
        [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store"), ("x-frame-options", "DENY")],
        body.encode(),
    )


def _form(request: HttpRequest) -> dict[str, str]:
    fields = parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _query(request: HttpRequest) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request.raw_query, keep_blank_values=True).items()}


def _challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


_OAUTH_FIELDS = ("client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "lang")

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:44rem;padding:1rem;color:#1b1f24}}
h1{{font-size:1.4rem}} ul{{list-style:none;padding:0}} li{{margin:.4rem 0}}
button{{width:100%;text-align:left;font:inherit;padding:.6rem .8rem;border:1px solid #8a94a3;
border-radius:.4rem;background:#fff;cursor:pointer}}
button:hover,button:focus{{background:#eef3fb;outline:3px solid #2457c5;outline-offset:1px}}
.who{{font-weight:600}} .what{{color:#4a5361;font-size:.9rem}} .note{{color:#4a5361}}
</style></head>
<body><main>
<h1>{title}</h1>
<p class="note">{note}</p>
<ul>
{people}
</ul>
</main></body></html>
"""

_WORDS = {
    "fr": {
        "title": "Connexion locale : choisir une identité",
        "note": "Sur AWS, l'écran de connexion de Cognito est ici. En local, choisissez qui vous êtes parmi "
        "l'annuaire du personnel.",
        "empty": "L'annuaire du personnel est vide : importez-le d'abord (closeloop staff import FICHIER).",
        "as": "Se connecter en tant que",
    },
    "en": {
        "title": "Local sign-in: pick an identity",
        "note": "On AWS, Cognito's sign-in screen is here. Locally, pick who you are from the staff directory.",
        "empty": "The staff directory is empty: import it first (closeloop staff import FILE).",
        "as": "Sign in as",
    },
}


class LocalSignIn:
    """Authorization codes in memory, one use each, for CODE_LIFETIME seconds."""

    def __init__(
        self,
        issuer: auth.JwtIssuer,
        authorizer: auth.JwtAuthorizer,
        gateway_url: Callable[[], str],
        people: Callable[[], list[Person]] = directory_people,
    ) -> None:
        self._issuer = issuer
        self._authorizer = authorizer
        self._gateway_url = gateway_url
        self._people = people
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    @property
    def client_id(self) -> str:
        return self._authorizer.audience[0]

    def _own(self, url: str) -> bool:
        """A URL of the local gateway (where the staff pages are): the only redirect allowed."""
        base, target = urlsplit(self._gateway_url()), urlsplit(url)
        local_hosts = {"127.0.0.1", "localhost"}
        same_host = target.hostname == base.hostname or {target.hostname, base.hostname} <= local_hosts
        return target.scheme == base.scheme and same_host and target.port == base.port

    # ------------------------------------------------------------------ routes
    def get_login(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        """The list of identities; without the parameters of a sign-in, the staff pages start one."""
        query = _query(request)
        if not query.get("redirect_uri"):
            return _redirect(f"{self._gateway_url()}/staff")
        return self.get_authorize(request, _parameters)

    def get_authorize(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        query = _query(request)
        problem = self._check_request(query)
        if problem:
            return _html(400, f"<!doctype html><title>400</title><p>{html.escape(problem)}</p>")
        lang = "fr" if query.get("lang", "").startswith("fr") else "en"
        words = _WORDS[lang]
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">' for name in _OAUTH_FIELDS
        )
        items = []
        for person in self._people():
            detail = " · ".join(part for part in (person.email, ", ".join(person.groups), person.department) if part)
            items.append(
                f'<li><form method="post" action="/_local/oauth2/authorize">{hidden}'
                f'<input type="hidden" name="email" value="{html.escape(person.email)}">'
                f'<button type="submit" aria-label="{html.escape(words["as"])} {html.escape(person.name)}">'
                f'<span class="who">{html.escape(person.name)}</span><br>'
                f'<span class="what">{html.escape(detail)}</span></button></form></li>'
            )
        people = "\n".join(items) or f"<li>{html.escape(words['empty'])}</li>"
        return _html(200, _PAGE.format(lang=lang, title=words["title"], note=words["note"], people=people))

    def post_authorize(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        form = _form(request)
        problem = self._check_request(form)
        email = form.get("email", "").strip()
        if problem or not email:
            return _html(400, f"<!doctype html><title>400</title><p>{html.escape(problem or 'no email')}</p>")
        status, answer = auth.login(self._issuer, self._authorizer, email)
        if status != 200:
            return _html(status, f"<!doctype html><title>{status}</title><p>{html.escape(answer['message'])}</p>")
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._grants = {c: g for c, g in self._grants.items() if now - g.issued_at < CODE_LIFETIME}
            self._grants[code] = _Grant(
                email=email,
                client_id=form["client_id"],
                redirect_uri=form["redirect_uri"],
                challenge=form.get("code_challenge", ""),
                method=form.get("code_challenge_method", ""),
                issued_at=now,
            )
        separator = "&" if "?" in form["redirect_uri"] else "?"
        return _redirect(form["redirect_uri"] + separator + urlencode({"code": code, "state": form.get("state", "")}))

    def post_token(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        form = _form(request)
        if form.get("grant_type") != "authorization_code":
            return json_response(400, {"error": "unsupported_grant_type"})
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        fresh = grant is not None and time.monotonic() - grant.issued_at < CODE_LIFETIME
        if grant is None or not fresh:
            return json_response(400, {"error": "invalid_grant"})
        if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return json_response(400, {"error": "invalid_grant"})
        if grant.challenge and (
            grant.method != "S256" or _challenge_of(form.get("code_verifier", "")) != grant.challenge
        ):
            return json_response(400, {"error": "invalid_grant", "error_description": "PKCE check failed"})
        status, answer = auth.login(self._issuer, self._authorizer, grant.email)
        if status != 200:
            return json_response(400, {"error": "invalid_grant", "error_description": answer["message"]})
        token = answer["id_token"]
        body: dict[str, Any] = {
            "id_token": token,
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": answer["expires_in"],
        }
        return json_response(200, body, [("cache-control", "no-store")])

    def get_logout(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        query = _query(request)
        target = query.get("logout_uri", "")
        if query.get("client_id") != self.client_id or not self._own(target):
            return json_response(400, {"message": "client_id or logout_uri is not this client's"})
        return _redirect(target)

    def _check_request(self, fields: dict[str, str]) -> str | None:
        if fields.get("client_id") != self.client_id:
            return "client_id is not the staff pages' app client"
        if not self._own(fields.get("redirect_uri", "")):
            return "redirect_uri is not a page of this gateway"
        if fields.get("code_challenge") and fields.get("code_challenge_method") != "S256":
            return "code_challenge_method must be S256"
        return None

    def register(self, gateway: Any) -> None:
        gateway.add_local_route("GET", "/_local/login", self.get_login)
        gateway.add_local_route("GET", "/_local/oauth2/authorize", self.get_authorize)
        gateway.add_local_route("POST", "/_local/oauth2/authorize", self.post_authorize)
        gateway.add_local_route("POST", "/_local/oauth2/token", self.post_token)
        gateway.add_local_route("GET", "/_local/logout", self.get_logout)

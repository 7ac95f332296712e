"""The staff pages: one page (templates/staff/index.html) for every path under /staff, and its
assets (templates/staff/assets/: scripts, styles, messages in French and English).

The page is a thin client of the staff API: it signs in through the Cognito hosted UI
(authorization code with PKCE), keeps the ID token in the browser and sends it as a bearer token.
No cookie carries a session, so no request can be forged across sites with one. The page's
Content-Security-Policy admits only the product's own scripts and styles: no inline script, no
external CDN, and customer text is only ever set as text (docs/staff-app.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from closeloop.settings import get_settings
from closeloop.templating import environment, templates_dir

router = Router()

_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|json|svg)$")
_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "svg": "image/svg+xml",
}


def content_security_policy(sign_in_url: str, uploads_origin: str = "") -> str:
    """Only the product's own scripts and styles; the token endpoint of the hosted UI and the
    uploads bucket (an import's file is PUT there from the browser) besides."""
    uploads = [origin for origin in uploads_origin.split() if origin.startswith(("https://", "http://"))]
    connect = " ".join(["'self'", *([sign_in_url] if sign_in_url.startswith("https://") else []), *uploads])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(
            get_settings().staff_sign_in_url, get_settings().staff_uploads_origin
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    etag: str


def _assets_dir() -> Path:
    return templates_dir() / "staff" / "assets"


@lru_cache(maxsize=64)
def _asset(name: str) -> Asset | None:
    match = _ASSET_NAME.match(name)
    path = _assets_dir() / name
    if match is None or not path.is_file():
        return None
    body = path.read_text(encoding="utf-8")
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    return Asset(body, _TYPES[match.group(1)], etag)


@lru_cache(maxsize=1)
def assets_version() -> str:
    """A digest of every asset: the page names it in its links, so a new release is fetched at once."""
    digest = hashlib.sha256()
    for path in sorted(_assets_dir().iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def page_config() -> dict[str, str]:
    """What the page needs to sign in; the rest it derives from its own address."""
    settings = get_settings()
    return {"sign_in_url": settings.staff_sign_in_url.rstrip("/"), "client_id": settings.user_pool_client_id}


def _language() -> str:
    header = (router.current_event.headers or {}).get("accept-language") or ""
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in ("fr", "en"):
            return tag
    return get_settings().default_language


def _page() -> Response[str]:
    config = json.dumps(page_config()).replace("</", "<\\/")
    html = (
        environment()
        .get_template("staff/index.html")
        .render(language=_language(), config_json=config, version=assets_version())
    )
    headers = {"Cache-Control": "no-store", **_security_headers()}
    return Response(200, "text/html; charset=utf-8", html, headers=headers)


_PAGE_DOC = {
    "tags": ["staff pages"],
    "description": "The staff pages (one page; it reads its path and calls the staff API).",
    "responses": {200: {"description": "The page", "content": {"text/html": {}}}},
}


@router.get("/staff/assets/<asset>", summary="An asset of the staff pages", tags=["staff pages"])
def staff_asset(asset: str) -> Response[str]:
    found = _asset(asset)
    if found is None:
        return Response(404, "text/plain; charset=utf-8", "no such asset / aucun fichier de ce nom")
    headers = {"Cache-Control": "no-cache", "ETag": found.etag, "X-Content-Type-Options": "nosniff"}
    if (router.current_event.headers or {}).get("if-none-match") == found.etag:
        return Response(304, found.content_type, "", headers=headers)
    return Response(200, found.content_type, found.body, headers=headers)


@router.get("/staff", summary="The staff pages", **_PAGE_DOC)  # type: ignore[arg-type]
def staff_home() -> Response[str]:
    return _page()


@router.get("/staff/<section>", summary="A page of the staff pages", **_PAGE_DOC)  # type: ignore[arg-type]
def staff_section(section: str) -> Response[str]:  # noqa: ARG001 (the path names it)
    return _page()


@router.get("/staff/<section>/<item>", summary="An item's page of the staff pages", **_PAGE_DOC)  # type: ignore[arg-type]
def staff_item(section: str, item: str) -> Response[str]:  # noqa: ARG001 (the path names them)
    return _page()

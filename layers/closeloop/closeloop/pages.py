"""Customer pages (templates/pages/): what a page is, how it is rendered, the headers it is served with.

Every customer page extends templates/pages/layout.html, speaks the customer's language (fr or
en) and is served with the same strict headers: never cached, never indexed, no referrer, and a
content security policy that allows no script, no external file and no form target but this site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from closeloop.settings import get_settings
from closeloop.templating import environment

LANGUAGES = ("fr", "en")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
}
CONTENT_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Page:
    """A page to answer: its template (under templates/pages/), status, language and context."""

    template: str
    language: str
    status: int = 200
    context: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else get_settings().default_language


def languages_from(accept_language: str | None) -> tuple[str, str]:
    """Both page languages, the reader's first: French first when Accept-Language names French at
    least as gladly as English, English first when it prefers English; the default otherwise."""
    best: dict[str, float] = {}
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language not in LANGUAGES:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            # Earlier tags win ties, as a browser lists them by preference.
            best[language] = max(best.get(language, 0.0), quality - position * 1e-6)
    if best:
        first = "fr" if best.get("fr", -1.0) >= best.get("en", -1.0) else "en"
    else:
        first = get_settings().default_language
    return (first, "en" if first == "fr" else "fr")


def render(page: Page) -> str:
    """The page's HTML: its template, with the layout's `lang` and `company_name`."""
    context = {"lang": page.language, "company_name": get_settings().company_name, **page.context}
    return environment().get_template(f"pages/{page.template}.html").render(context)


def headers(page: Page) -> dict[str, str]:
    return {**PAGE_HEADERS, **page.headers}

"""Every staff page, in French and in English: no message missing, no text of the other language.

The pages are walked as a manager who is also a caller (Claire), items included (a case, a wave,
a contact, a staff member, an import): what each page shows must come from its language's
messages. A message missing from the catalog shows as ⟦key⟧; a message of the other language
shows as itself, unless it is marked as such (`lang`), as the call script in the customer's
language is.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.e2e.staff_pages import browser, open_page, screenshot, settled, sign_in
from tests.support import ROOT

CLAIRE = "claire.martin@demo.closeloop.example"
ASSETS = ROOT / "templates" / "staff" / "assets"
LIST_PAGES = [
    "/staff",
    "/staff/cases",
    "/staff/waves",
    "/staff/waves/new",
    "/staff/contacts",
    "/staff/taxonomy",
    "/staff/directory",
    "/staff/quarantine",
]


# The page's text, less what is marked as written in another language (the call script comes in the
# customer's language, with its `lang`; the switch to the other language names it in that language).
_TEXT_IN_PAGE_LANGUAGE = """(language) => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll("[lang]").forEach((element) => {
    if (!element.lang.startsWith(language)) element.remove();
  });
  copy.querySelectorAll("script, style, template").forEach((element) => element.remove());
  return copy.textContent;
}"""


def _messages() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {"fr": {}, "en": {}}
    for path in ASSETS.glob("messages-*.json"):
        catalog = json.loads(path.read_text(encoding="utf-8"))
        for language, messages in merged.items():
            messages.update(catalog[language])
    return merged


def _only_in(language: str, other: str) -> set[str]:
    """Messages of `language` that cannot be mistaken for data: a few words, fixed, unlike `other`'s."""
    messages = _messages()
    texts = set()
    for key, text in messages[language].items():
        if "{" in text or text == messages[other][key] or len(text) < 12 or " " not in text:
            continue
        texts.add(text)
    return texts - set(messages[other].values())


def _first(http: httpx.Client, token: str, path: str, field: str, key: str) -> str | None:
    answer = http.get(path, headers={"Authorization": f"Bearer {token}"}).json()
    items: list[dict[str, Any]] = answer.get(field) or [] if isinstance(answer, dict) else []
    return str(items[0][key]) if items else None


def _item_pages(http: httpx.Client) -> list[str]:
    token = token_for(http, CLAIRE)
    pages = []
    for path, field, key, page in (
        ("/cases", "cases", "case_id", "/staff/cases/{}"),
        ("/waves", "waves", "wave_id", "/staff/waves/{}"),
        ("/contacts", "contacts", "contact_id", "/staff/contacts/{}"),
        ("/directory", "staff", "staff_id", "/staff/directory/{}"),
        ("/imports", "imports", "import_id", "/staff/imports/{}"),
    ):
        found = _first(http, token, path, field, key)
        if found:
            pages.append(page.format(found))
    return pages


@pytest.mark.parametrize(("language", "other"), [("fr", "en"), ("en", "fr")])
def test_every_page_speaks_one_language_with_no_message_missing(
    system: Runtime, http: httpx.Client, language: str, other: str
) -> None:
    pages = LIST_PAGES + _item_pages(http)
    foreign = _only_in(other, language)
    with browser() as chromium:
        page, watched = open_page(chromium, system, locale="fr-FR" if language == "fr" else "en-GB")
        page.add_init_script(f"localStorage.setItem('closeloop.lang', '{language}')")
        sign_in(page, system, CLAIRE)

        problems: dict[str, list[str]] = {}
        for path in pages:
            page.goto(f"{system.url}{path}")
            settled(page)
            text = page.evaluate(_TEXT_IN_PAGE_LANGUAGE, language)
            missing = re.findall(r"⟦[^⟧]*⟧", text)
            stray = sorted(message for message in foreign if message in text)
            if missing or stray:
                problems[path] = missing + stray
            assert page.locator("html").get_attribute("lang") == language
            assert page.locator("h1").count() == 1, f"{path} has one heading"
        screenshot(page, f"last-page-{language}")

    assert problems == {}
    assert watched.script_errors == []
    assert len(pages) > len(LIST_PAGES), "the walk includes item pages"

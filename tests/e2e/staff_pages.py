"""Driving the staff pages in Chromium: sign in as a demo staff member, wait for a page, keep screenshots.

Each test gets its own browser context (its own localStorage: session, drafts, language), and the
page's script errors, failed requests to other hosts and console errors are collected so that a test
can assert there were none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from closeloop_local.runtime import Runtime
from tests.browser import chromium
from tests.support import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "staff-pages"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class Watched:
    """What went wrong in the page, for a test to assert on (each list empty when all is well)."""

    script_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@contextmanager
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def open_page(
    browser: Browser, system: Runtime, *, viewport: dict[str, int] | None = None, locale: str = "en-GB"
) -> tuple[Page, Watched]:
    """A fresh context and page, watched: script errors, console errors, requests to other hosts, dialogs."""
    context = browser.new_context(viewport=viewport or DESKTOP, locale=locale)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    page = context.new_page()
    watched = Watched()
    page.on("pageerror", lambda error: watched.script_errors.append(str(error)))
    page.on("console", lambda message: watched.console_errors.append(message.text) if message.type == "error" else None)
    page.on(
        "request",
        lambda request: (
            watched.foreign_requests.append(request.url)
            if not request.url.startswith((system.url, "data:", "about:"))
            else None
        ),
    )

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page, watched


def sign_in(page: Page, system: Runtime, email: str, path: str = "/staff") -> None:
    """Open `path`, pick `email` on the local sign-in page, and wait until `path` is shown, signed in."""
    page.goto(f"{system.url}{path}")
    page.locator(f'form:has(input[name="email"][value="{email}"]) button').click()
    page.wait_for_url(re.compile(re.escape(system.url + path.split("?", maxsplit=1)[0]) + r"(\?.*)?$"))
    settled(page)


def settled(page: Page) -> None:
    """Wait until the page has finished rendering (main is no longer busy)."""
    page.locator('main[aria-busy="false"]').wait_for()


def screenshot(page: Page, name: str) -> Path:
    """Keep a full-page screenshot under test-artifacts/staff-pages/ (kept by CI as an artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""A real Chromium for the page tests: the system's where there is one, else Playwright's own."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, sync_playwright

# Flags for a headless Chromium on a machine with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """CHROMIUM_PATH, else a system chromium, else None (Playwright's downloaded build)."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        options: dict[str, Any] = {"headless": True, "args": CHROMIUM_ARGS}
        path = chromium_path()
        if path:
            options["executable_path"] = path
        browser = playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            browser.close()

"""The waves pages in Chromium: a manager imports contacts, plans a wave to them, previews its email in
French and English, sends a test, follows the counts once the clock passes the start, and cancels a
planned wave."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect

from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.e2e.staff_pages import PHONE, browser, open_page, screenshot, settled, sign_in

CLAIRE = "claire.martin@demo.closeloop.example"  # manager
PARIS = ZoneInfo("Europe/Paris")


def _count(page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("dl.wave-counts dt", has_text=re.compile(f"^{re.escape(name)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def test_a_manager_imports_contacts_plans_a_wave_previews_tests_and_follows_its_counts(
    system: Runtime, http: httpx.Client, tmp_path: Path
) -> None:
    # Given the demo wave (to everyone, a minute after the start) has gone, and a CSV of three
    # contacts in a segment only they are in
    assert http.post("/_local/clock", json={"advance": "PT2M"}, timeout=300).status_code == 200
    segment = f"waves-{uuid.uuid4().hex[:8]}"
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "email;prénom;nom;société;segment;langue\n"
        + "".join(f"{segment}-{n}@customers.example;Léa{n};Morel;Pharma {n};{segment};fr\n" for n in range(3)),
        encoding="utf-8",
    )
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/contacts")

        # When the manager imports it through the contacts page
        page.get_by_label("CSV file").set_input_files(str(csv))
        page.get_by_role("button", name="Import").click()
        page.wait_for_url(re.compile(r".*/staff/imports/[^/?]+$"))
        expect(page.get_by_role("heading", name="Import report")).to_be_visible()
        expect(page.get_by_text("Done", exact=True).first).to_be_visible(timeout=60_000)

        # and plans a wave to that segment, starting in a quarter of an hour (domain time, Paris)
        now = datetime.fromisoformat(http.get("/_local/clock").json()["now"].replace("Z", "+00:00"))
        start = (now + timedelta(minutes=15)).astimezone(PARIS).replace(second=0, microsecond=0)
        page.get_by_role("link", name="Waves").click()
        settled(page)
        page.get_by_role("link", name="New wave").click()
        settled(page)
        page.get_by_label("Name of the wave").fill(f"Wave {segment}")
        page.get_by_label("Segments", exact=True).fill(segment)
        page.get_by_label("Start (Paris time)").fill(start.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Subject in French").fill(f"Votre avis {segment}")
        page.get_by_label("Subject in English").fill(f"Your view {segment}")
        page.get_by_role("button", name="Create the wave").click()
        page.wait_for_url(re.compile(r".*/staff/waves/[0-9A-Z]+$"))
        settled(page)
        wave_id = page.url.rsplit("/", 1)[1]

        # Then the wave is planned for that start
        expect(page.get_by_role("heading", name=f"Wave {segment}")).to_be_visible()
        expect(page.locator(".wave-status")).to_have_text("planned")
        manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}
        stored = http.get(f"/waves/{wave_id}", headers=manager).json()
        assert datetime.fromisoformat(stored["starts_at"].replace("Z", "+00:00")) == start

        # and its email is previewed in English and in French
        page.get_by_role("button", name="Show the preview").click()
        expect(page.locator(".wave-subject")).to_have_text(f"Your view {segment}")
        expect(page.locator("iframe.preview")).to_have_attribute("sandbox", "")
        page.get_by_role("button", name="French version").click()
        expect(page.locator(".wave-subject")).to_have_text(f"Votre avis {segment}")

        # and a test goes to the manager, marked as a test
        page.get_by_role("button", name="Send the test").click()
        expect(page.locator(".notice", has_text="Test email sent to")).to_contain_text(CLAIRE)
        mail = http.get("/_local/outbox.json", params={"to": CLAIRE, "limit": "1000"}).json()["messages"]
        assert f"[TEST] Your view {segment}" in [m["subject"] for m in mail]

        # When the clock passes the start and the manager refreshes the counts
        assert http.post("/_local/clock", json={"advance": "PT20M"}, timeout=300).status_code == 200
        assert system.event_sources.drain(timeout=180)
        shown = http.get(f"/waves/{wave_id}", headers=manager).json()
        assert shown["counts"]["sent"] == 3, shown["counts"]
        page.get_by_role("button", name="Refresh").click()

        # Then the three invitations are sent
        expect(_count(page, "Invitations sent")).to_have_text("3", timeout=30_000)
        expect(_count(page, "Contacts targeted")).to_have_text("3")
        screenshot(page, "waves-page-desktop-en")
        page.set_viewport_size(PHONE)
        screenshot(page, "waves-page-phone-en")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_role("button", name="Passer en français").click()
        settled(page)
        expect(_count(page, "Invitations envoyées")).to_have_text("3")
        assert "⟦" not in page.locator("body").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "waves-page-phone-fr")
        page.set_viewport_size({"width": 1280, "height": 900})
        screenshot(page, "waves-page-desktop-fr")
        assert watched.script_errors == []


def test_a_manager_cancels_a_planned_wave_from_its_page_with_the_keyboard(system: Runtime, http: httpx.Client) -> None:
    manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}
    name = f"To cancel {uuid.uuid4().hex[:6]}"
    created = http.post(
        "/waves",
        json={"name": name, "target": {"everyone": True}, "starts_at": "2099-03-01T09:00:00+01:00"},
        headers=manager,
    )
    assert created.status_code == 201, created.text
    wave_id = created.json()["wave_id"]
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, f"/staff/waves/{wave_id}")

        page.get_by_role("button", name="Cancel this wave…").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_text(f"Cancel the wave “{name}”?")).to_be_visible()
        expect(page.get_by_role("button", name="Yes, cancel the wave")).to_be_focused()
        page.keyboard.press("Enter")

        expect(page.locator(".wave-status")).to_have_text("cancelled")
        expect(page.get_by_role("button", name="Cancel this wave…")).to_have_count(0)
        assert http.get(f"/waves/{wave_id}", headers=manager).json()["status"] == "cancelled"
        page.get_by_role("link", name="Back to the waves").click()
        settled(page)
        row = page.locator("tr", has=page.get_by_role("link", name=name))
        expect(row).to_contain_text("cancelled")
        assert watched.script_errors == []

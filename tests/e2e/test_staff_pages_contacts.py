"""The managers' contacts pages and quarantined mail in Chromium, over the local runtime: a CSV from
Excel in France imported through the page and its report, a search and an edit, customer text shown
as text, quarantined mail marked handled, a phone's width and French."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

import httpx
from playwright.sync_api import Page, expect

from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.e2e.staff_pages import PHONE, browser, open_page, screenshot, settled, sign_in
from tests.support import template

CLAIRE = "claire.martin@demo.closeloop.example"  # caller and manager
MARC = "marc.dubois@demo.closeloop.example"  # caller and manager
XSS_NAME = "<img src=x onerror=alert(1)>"


def manager(http: httpx.Client, email: str = CLAIRE) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(http, email)}"}


def unique() -> str:
    return uuid.uuid4().hex[:10]


def add_contact(http: httpx.Client, **fields: str) -> dict[str, object]:
    created = http.post("/contacts", json=fields, headers=manager(http))
    assert created.status_code == 201, created.text
    return dict(created.json())


def excel_csv(tmp_path: Path, tag: str) -> Path:
    """What Excel in France saves: `;` separated, Windows-1252, CRLF; line 4 has no valid email."""
    text = (
        "Prénom;Nom;Courriel;Téléphone;Société;Segment\r\n"
        f"Hélène;Lefèvre;helene.lefevre.{tag}@pharmacie-e2e.example;06 12 34 56 78;Officine Cécile {tag};pharmacy\r\n"
        f"François;Mégret;f.megret.{tag}@pharmacie-e2e.example;01 23 45 67 89;Officine Cécile {tag};pharmacy\r\n"
        "Zoé;Bérard;zoe.berard-sans-arobase;06 98 76 54 32;Pharmacie du Marché;pharmacy\r\n"
    )
    path = tmp_path / f"contacts-{tag}.csv"
    path.write_bytes(text.encode("cp1252"))
    return path


def import_through_the_page(page: Page, system: Runtime, csv: Path) -> None:
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(re.escape(f"{system.url}/staff/imports/") + r"[^/?]+$"))
    expect(page.get_by_role("heading", name="Import report")).to_be_visible()
    expect(page.get_by_text("Done", exact=True)).to_be_visible(timeout=60_000)


def counts_shown(page: Page) -> dict[str, str]:
    terms = page.locator("dl.facts dt").all_inner_texts()
    values = page.locator("dl.facts dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


def test_a_manager_imports_an_excel_csv_and_reads_the_report_with_the_refused_row(
    system: Runtime, http: httpx.Client, tmp_path: Path
) -> None:
    tag = unique()
    csv = excel_csv(tmp_path, tag)
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/contacts")

        import_through_the_page(page, system, csv)

        shown = counts_shown(page)
        assert (shown["Rows read"], shown["Contacts added"], shown["Rows refused"]) == ("3", "2", "1")
        refused = page.locator("table.list tbody tr")
        expect(refused).to_have_count(1)
        assert refused.locator('td[data-label="Line"]').inner_text() == "4"
        assert refused.locator('td[data-label="Reason"]').inner_text() == "not a valid email address"
        assert shown["Encoding"].lower() in ("cp1252", "windows-1252")
        page.get_by_role("link", name="Back to contacts").click()
        settled(page)
        expect(
            page.get_by_role("region", name="Past imports").get_by_role("link", name="Open the report").first
        ).to_be_visible()
        assert watched.script_errors == []
        assert watched.dialogs == []

    found = http.get("/contacts", params={"q": f"helene.lefevre.{tag}@pharmacie-e2e.example"}, headers=manager(http))
    [stored] = found.json()["contacts"]
    assert (stored["first_name"], stored["last_name"], stored["phone"]) == ("Hélène", "Lefèvre", "+33612345678")


def test_a_manager_finds_a_contact_and_edits_its_phone_and_the_change_is_stored(
    system: Runtime, http: httpx.Client
) -> None:
    tag = unique()
    company = f"Officine des Tilleuls {tag}"
    contact = add_contact(
        http, email=f"paul.renard.{tag}@officine-e2e.example", first_name="Paul", last_name="Renard", company=company
    )
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/contacts")

        page.get_by_label("Name, company or email").fill(company)
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(re.compile(r".*/staff/contacts\?q=.*"))
        settled(page)
        page.get_by_role("link", name="Paul Renard").click()
        page.wait_for_url(f"{system.url}/staff/contacts/{contact['contact_id']}")
        settled(page)
        page.get_by_label("Phone").fill("04 78 12 34 56")
        page.get_by_role("button", name="Save").click()

        expect(page.locator("#status")).to_have_text("Contact saved.")
        expect(page.get_by_role("link", name="+33478123456")).to_be_visible()
        assert watched.script_errors == []

    stored = http.get(f"/contacts/{contact['contact_id']}", headers=manager(http)).json()
    assert stored["phone"] == "+33478123456"
    assert stored["version"] == int(str(contact["version"])) + 1


def test_a_contact_edited_meanwhile_is_refused_and_a_wrong_phone_is_named_next_to_its_field(
    system: Runtime, http: httpx.Client
) -> None:
    tag = unique()
    contact = add_contact(http, email=f"ines.morel.{tag}@officine-e2e.example", first_name="Inès", last_name="Morel")
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, f"/staff/contacts/{contact['contact_id']}")

        page.get_by_label("Phone").fill("12")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#contact-phone-error")).to_contain_text("not a valid phone number")
        expect(page.get_by_label("Phone")).to_have_attribute("aria-invalid", "true")

        changed = http.patch(
            f"/contacts/{contact['contact_id']}",
            json={"version": contact["version"], "company": "Changée ailleurs"},
            headers=manager(http, MARC),
        )
        assert changed.status_code == 200, changed.text
        page.get_by_label("Phone").fill("05 56 00 11 22")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert")).to_contain_text("Someone else changed this contact")
        page.get_by_role("button", name="Reload the contact").click()
        expect(page.get_by_label("Phone")).to_have_value("05 56 00 11 22")  # the draft survived the reload
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#status")).to_have_text("Contact saved.")
        assert watched.script_errors == []

    stored = http.get(f"/contacts/{contact['contact_id']}", headers=manager(http)).json()
    assert (stored["phone"], stored["company"]) == ("+33556001122", "Changée ailleurs")


def test_a_contact_named_like_html_shows_as_text_in_the_results_and_on_its_page(
    system: Runtime, http: httpx.Client
) -> None:
    tag = unique()
    company = f"Pharmacie <b>Gras</b> {tag}"
    contact = add_contact(http, email=f"xss.{tag}@officine-e2e.example", last_name=XSS_NAME, company=company)
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/contacts?" + urlencode({"q": company}))

        results = page.locator("table.list").first
        expect(results.get_by_role("link", name=XSS_NAME)).to_be_visible()
        assert results.locator("img").count() == 0
        assert results.locator("b").count() == 0
        results.get_by_role("link", name=XSS_NAME).click()
        page.wait_for_url(f"{system.url}/staff/contacts/{contact['contact_id']}")
        settled(page)

        expect(page.get_by_role("heading", level=1)).to_have_text(XSS_NAME)
        expect(page.locator("dl.facts")).to_contain_text(company)
        assert page.locator("main img").count() == 0
        assert page.locator("main b").count() == 0
        assert watched.dialogs == []
        assert watched.script_errors == []


def test_a_quarantined_mail_is_listed_with_its_reason_and_marked_handled(system: Runtime, http: httpx.Client) -> None:
    # Given mail to the reply domain that carries no reply token
    tag = unique()
    subject = f"Question sur ma commande <script>alert(1)</script> {tag}"
    raw = EmailMessage()
    raw["From"] = f"pharmacien.{tag}@officine-e2e.example"
    raw["To"] = f"contact@{template()['Parameters']['ReplyDomain']['Default']}"
    raw["Subject"] = subject
    raw.set_content("Bonjour, où en est ma commande ?")
    assert http.post("/_local/inbound", content=raw.as_bytes()).status_code == 202
    assert system.event_sources.drain(timeout=60)
    listed = http.get("/quarantine", headers=manager(http)).json()
    assert [item["handled"] for item in listed["items"] if item["subject"] == subject] == [False]

    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, f"/staff/quarantine?month={listed['month']}")

        row = page.locator("table.list tbody tr", has_text=tag)
        expect(row.locator('td[data-label="Subject"]')).to_have_text(subject)
        expect(row.locator('td[data-label="Reason"]')).to_have_text("No reply token in the address")
        expect(row.locator('td[data-label="Sender"]')).to_have_text(f"pharmacien.{tag}@officine-e2e.example")
        row.get_by_role("button", name="Mark handled").click()

        expect(page.locator("#status")).to_have_text("Mail marked handled.")
        expect(row.locator('td[data-label="Follow-up"]')).to_contain_text("Handled on")
        page.reload()
        settled(page)
        expect(page.locator("table.list tbody tr", has_text=tag).get_by_role("button")).to_have_count(0)
        assert watched.dialogs == []
        assert watched.script_errors == []

    [stored] = [
        item for item in http.get("/quarantine", headers=manager(http)).json()["items"] if item["subject"] == subject
    ]
    assert stored["handled"] is True


def test_the_contacts_page_is_readable_on_a_phone_in_french(system: Runtime, http: httpx.Client) -> None:
    tag = unique()
    company = f"Pharmacie de la Gare {tag}"
    add_contact(
        http, email=f"lea.girard.{tag}@officine-e2e.example", first_name="Léa", last_name="Girard", company=company
    )
    with browser() as chromium:
        page, watched = open_page(chromium, system, viewport=PHONE, locale="fr-FR")
        page.add_init_script("localStorage.setItem('closeloop.lang', 'fr')")
        sign_in(page, system, CLAIRE, "/staff/contacts?" + urlencode({"q": company}))

        expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
        expect(page.get_by_label("Fichier CSV")).to_be_visible()
        expect(page.get_by_role("button", name="Importer", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="Léa Girard")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert "⟦" not in page.locator("body").inner_text()
        screenshot(page, "contacts-phone-fr")
        assert watched.script_errors == []

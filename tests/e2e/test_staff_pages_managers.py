"""The managers' pages in Chromium over the local runtime: all cases with their filters, reassigning
a case, the irritant taxonomy, the staff directory and its CSV import."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Case, Staff, Wave
from closeloop.tokens import survey_token
from closeloop_local.demo import DEMO_DOMAIN
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.e2e.staff_pages import PHONE, browser, open_page, screenshot, settled, sign_in
from tests.integration.dispatch import make_contact, make_wave, reserve

CLAIRE = f"claire.martin@{DEMO_DOMAIN}"  # caller and manager
HUGO = f"hugo.bernard@{DEMO_DOMAIN}"  # caller
AMINA = f"amina.diallo@{DEMO_DOMAIN}"  # caller
ADMIN = f"admin@{DEMO_DOMAIN}"  # admin and manager


def _answers(system: Runtime, http: httpx.Client, people: Sequence[tuple[str, int, str]]) -> tuple[Wave, list[Case]]:
    """Customers (first name, score, account owner) in a wave of their own answer the survey; the
    Responses stream opens their cases, each assigned to the customer's account owner."""
    clock.set_state(**system.clock.state())  # items of this process dated on the runtime's clock
    wave = make_wave(closes_at=clock.now() + timedelta(days=60))
    contacts = [
        make_contact(
            f"e2e.managers.{wave.wave_id.lower()}.{index}@pharmacie-des-halles.example",
            first_name=first_name,
            account_owner=owner,
            phone="+33611223344",
            company=f"Pharmacie {first_name}",
        )
        for index, (first_name, _, owner) in enumerate(people)
    ]
    _, invitation_ids = reserve(wave, contacts)
    for invitation_id, (_, score, _) in zip(invitation_ids, people, strict=True):
        answer = http.post(f"/r/{survey_token(invitation_id)}", data={"score": str(score), "comment": "Trop d'attente"})
        assert answer.status_code == 200, answer.text
    assert system.event_sources.drain(timeout=60)
    return wave, [Case.get(invitation_id, consistent_read=True) for invitation_id in invitation_ids]


def _case_rows(page: Page) -> list[str]:
    return page.locator("table.list tbody tr").all_inner_texts()


def _no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def test_a_manager_filters_the_cases_of_a_wave_down_to_its_detractors_and_back_works(
    system: Runtime, http: httpx.Client
) -> None:
    wave, _ = _answers(system, http, [("Odile", 2, HUGO), ("Pascal", 9, HUGO)])
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, f"/staff/cases?wave={wave.wave_id}")
        expect(page.locator("table.list tbody tr")).to_have_count(2)

        page.get_by_label("Category").select_option("detractor")
        page.get_by_role("button", name="Filter", exact=True).click()
        page.wait_for_url(re.compile(r"category=detractor"))
        settled(page)

        rows = _case_rows(page)
        assert len(rows) == 1
        for shown in ("Odile Martin", "Pharmacie Odile", "Detractor", "Hugo Bernard"):
            assert shown in rows[0]
        assert page.get_by_label("Category").input_value() == "detractor"
        page.go_back()
        settled(page)
        expect(page.locator("table.list tbody tr")).to_have_count(2)
        assert watched.script_errors == []


def test_a_manager_picks_a_caller_and_a_wave_in_the_filters_and_sees_only_that_callers_cases(
    system: Runtime, http: httpx.Client
) -> None:
    wave, [theirs, _] = _answers(system, http, [("Yvette", 3, AMINA), ("Lucien", 4, HUGO)])
    amina = Staff.find_by_email(AMINA)
    assert amina is not None
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/cases")

        page.get_by_label("Assigned to").select_option(amina.staff_id)
        page.get_by_label("Wave").select_option(wave.wave_id)
        page.get_by_role("button", name="Filter", exact=True).click()
        page.wait_for_url(re.compile(rf"wave={wave.wave_id}"))
        settled(page)

        rows = _case_rows(page)
        assert len(rows) == 1
        assert "Yvette Martin" in rows[0]
        assert "Amina Diallo" in rows[0]
        expect(page.locator(f'tr[data-case="{theirs.case_id}"]')).to_be_visible()
        assert f"assignee={amina.staff_id}" in page.url
        assert watched.script_errors == []


def test_a_manager_reassigns_a_case_to_another_caller_who_then_has_it_in_their_queue(
    system: Runtime, http: httpx.Client
) -> None:
    wave, [case] = _answers(system, http, [("Rosalie", 1, HUGO)])
    amina = Staff.find_by_email(AMINA)
    assert amina is not None
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, f"/staff/cases?wave={wave.wave_id}")
        row = page.locator(f'tr[data-case="{case.case_id}"]')

        row.get_by_role("button", name="Reassign the case of Rosalie Martin").click()
        choice = row.get_by_label("Give this case to")
        caller_shown = re.compile(r"Amina Diallo — \d+ open / \d+")
        expect(choice.locator(f'option[value="{amina.staff_id}"]')).to_contain_text(caller_shown)
        choice.select_option(amina.staff_id)
        row.get_by_role("button", name="Reassign", exact=True).click()

        moved = page.locator(f'tr[data-case="{case.case_id}"]')
        expect(moved).to_contain_text("Amina Diallo")
        expect(page.locator("#status")).to_have_text("The case now belongs to Amina Diallo.")
        assert watched.script_errors == []
    queue = http.get("/cases/mine", headers={"authorization": f"Bearer {token_for(http, AMINA)}"}).json()["cases"]
    assert case.case_id in [entry["case_id"] for entry in queue]
    assert Case.get(case.case_id, consistent_read=True).assignment == "manual"


def test_reassigning_a_case_that_changed_meanwhile_says_so(system: Runtime, http: httpx.Client) -> None:
    wave, [case] = _answers(system, http, [("Sidonie", 2, HUGO)])
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, f"/staff/cases?wave={wave.wave_id}")
        row = page.locator(f'tr[data-case="{case.case_id}"]')
        row.get_by_role("button", name="Reassign the case of Sidonie Martin").click()
        amina = Staff.find_by_email(AMINA)
        assert amina is not None
        moved = http.post(
            f"/cases/{case.case_id}/reassign",
            json={"to_email": AMINA, "version": case.version},
            headers={"authorization": f"Bearer {token_for(http, CLAIRE)}"},
        )
        assert moved.status_code == 200, moved.text

        row.get_by_label("Give this case to").select_option(index=1)
        row.get_by_role("button", name="Reassign", exact=True).click()

        expect(row.get_by_role("alert")).to_contain_text("This case changed meanwhile")
        assert watched.script_errors == []


def test_a_manager_adds_an_irritant_tag_with_its_french_and_english_labels(system: Runtime, http: httpx.Client) -> None:
    slug = f"e2e-{new_id().lower()[-10:]}"
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/taxonomy")

        page.get_by_label("Tag (identifier)").fill(slug)
        page.get_by_label("Label in French").fill("Délai de livraison trop long")
        page.get_by_label("Label in English").fill("Delivery took too long")
        page.get_by_label("Department that owns it").fill("logistique")
        page.get_by_role("button", name="Add the tag").click()

        row = page.locator(f'tr[data-tag="{slug}"]')
        expect(row).to_contain_text("Délai de livraison trop long")
        expect(row).to_contain_text("Delivery took too long")
        expect(row).to_contain_text("logistique")
        expect(row).to_contain_text("Offered")
        assert watched.script_errors == []
    listed = http.get("/taxonomy", headers={"authorization": f"Bearer {token_for(http, HUGO)}"}).json()["tags"]
    [tag] = [tag for tag in listed if tag["tag"] == slug]
    assert (tag["label_fr"], tag["label_en"], tag["department"], tag["active"]) == (
        "Délai de livraison trop long",
        "Delivery took too long",
        "logistique",
        True,
    )


def test_a_manager_deactivates_an_irritant_tag_and_it_is_no_longer_offered(system: Runtime, http: httpx.Client) -> None:
    slug = f"e2e-{new_id().lower()[-10:]}"
    manager = {"authorization": f"Bearer {token_for(http, CLAIRE)}"}
    added = http.post("/taxonomy", json={"tag": slug, "label_fr": "Prix", "label_en": "Price"}, headers=manager)
    assert added.status_code == 201, added.text
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/taxonomy")

        page.get_by_role("button", name=f"Deactivate the tag {slug}").click()

        expect(page.locator(f'tr[data-tag="{slug}"]')).to_contain_text("Deactivated")
        expect(page.get_by_role("button", name=f"Reactivate the tag {slug}")).to_be_visible()
        assert watched.script_errors == []
    [tag] = [tag for tag in http.get("/taxonomy", headers=manager).json()["tags"] if tag["tag"] == slug]
    assert tag["active"] is False


def test_an_admin_imports_a_staff_csv_and_sees_the_good_row_landed_and_the_bad_row_refused_with_its_line(
    system: Runtime, http: httpx.Client, tmp_path: Path
) -> None:
    unique = new_id().lower()[-8:]
    good = f"lucie.import.{unique}@{DEMO_DOMAIN}"
    csv = tmp_path / "staff.csv"
    csv.write_text(
        f"name,email,groups,capacity\nLucie Import {unique},{good},manager,10\nBad Row,not-an-email,manager,10\n",
        encoding="utf-8",
    )
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, ADMIN, "/staff/directory")

        page.get_by_label("CSV file").set_input_files(str(csv))
        page.get_by_role("button", name="Import", exact=True).click()

        report = page.locator("#import-report-panel")
        expect(report).to_contain_text("2 rows: 1 added, 0 updated, 0 unchanged, 1 refused.")
        accepted = report.locator("#import-accepted tbody tr")
        expect(accepted).to_have_count(1)
        expect(accepted).to_contain_text(good)
        expect(accepted).to_contain_text("Added")
        refused = report.locator("#import-refused tbody tr")
        expect(refused).to_have_count(1)
        assert refused.locator("td").all_inner_texts() == ["3", "not-an-email", "not a valid email address"]
        assert watched.script_errors == []
    landed = Staff.find_by_email(good)
    assert landed is not None
    assert (landed.name, int(landed.capacity)) == (f"Lucie Import {unique}", 10)


def test_a_manager_who_is_not_an_admin_reads_the_directory_without_edit_controls(system: Runtime) -> None:
    hugo = Staff.find_by_email(HUGO)
    assert hugo is not None
    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, CLAIRE, "/staff/directory?group=caller")

        page.get_by_role("link", name="Hugo Bernard").click()
        page.wait_for_url(f"{system.url}/staff/directory/{hugo.staff_id}")
        settled(page)

        expect(page.get_by_role("heading", name="Hugo Bernard", exact=True)).to_be_visible()
        expect(page.locator("dl.facts")).to_contain_text(HUGO)
        expect(page.get_by_role("link", name=re.compile(r"See their open cases"))).to_be_visible()
        assert page.locator("form").count() == 0
        assert page.get_by_role("button", name="Deactivate").count() == 0
        assert watched.script_errors == []


def test_a_caller_opening_all_cases_gets_the_page_for_managers_only(system: Runtime) -> None:
    with browser() as chromium:
        page, watched = open_page(chromium, system)

        sign_in(page, system, HUGO, "/staff/cases")

        expect(page.get_by_role("heading", name="For managers only")).to_be_visible()
        assert page.locator("table.list").count() == 0
        assert watched.script_errors == []


def test_the_cases_list_is_readable_on_a_phone_and_in_french(system: Runtime, http: httpx.Client) -> None:
    wave, _ = _answers(system, http, [("Bérénice", 2, HUGO), ("Gaspard", 7, HUGO)])
    with browser() as chromium:
        page, watched = open_page(chromium, system, viewport=PHONE, locale="fr-FR")
        page.add_init_script("localStorage.setItem('closeloop.lang', 'fr')")
        sign_in(page, system, CLAIRE, f"/staff/cases?wave={wave.wave_id}")

        expect(page.get_by_role("heading", name="Tous les dossiers")).to_be_visible()
        expect(page.locator("table.list tbody tr")).to_have_count(2)
        text = page.locator("main").inner_text()
        screenshot(page, "managers-cases-phone-fr")

        for shown in ("Détracteur", "Neutre", "Bérénice Martin", "Gaspard Martin"):
            assert shown in text
        assert "⟦" not in text
        assert _no_horizontal_scroll(page)
        assert watched.script_errors == []

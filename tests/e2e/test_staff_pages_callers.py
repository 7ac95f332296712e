"""The callers' pages in Chromium over the local runtime: the queue, a case with its script, logging
calls through the form, the fallback email and the customer's reply in the case's history, the
keyboard alone, a 360-pixel phone, an expired session that loses nothing, handing a case back."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from closeloop import clock
from closeloop.models import Case, Contact, Staff
from closeloop.tokens import survey_token
from closeloop_local.demo import DEMO_DOMAIN
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.e2e.staff_pages import DESKTOP, PHONE, browser, open_page, screenshot, settled, sign_in
from tests.integration.dispatch import make_contact, make_wave, reserve

THOMAS = f"thomas.petit@{DEMO_DOMAIN}"  # caller
SARAH = f"sarah.collins@{DEMO_DOMAIN}"  # caller
AMINA = f"amina.diallo@{DEMO_DOMAIN}"  # caller
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_COMMENT = "<script>alert(1)</script> Trop d'attente au téléphone"
REPLY_TEXT = "Vous pouvez me rappeler jeudi après 14 h."


def _detractor_case(system: Runtime, http: httpx.Client, owner: str, *, name: str = "Nadia") -> Case:
    """A customer of `owner` answers 2/10 through the survey page; the Responses stream opens the
    case, assigned to the account owner."""
    clock.set_state(**system.clock.state())  # items of this process dated on the runtime's clock
    wave = make_wave(closes_at=clock.now() + timedelta(days=60))
    address = f"e2e.pages.{wave.wave_id.lower()}@pharmacie-des-halles.example"
    contact = make_contact(
        address,
        first_name=name,
        last_name=None,
        account_owner=owner,
        phone="+33611223344",
        company="Pharmacie des Halles",
    )
    _, [invitation_id] = reserve(wave, [contact])
    answer = http.post(f"/r/{survey_token(invitation_id)}", data={"score": "2", "comment": HOSTILE_COMMENT})
    assert answer.status_code == 200, answer.text
    assert system.event_sources.drain(timeout=60)
    case = Case.get(invitation_id, consistent_read=True)
    owner_staff = Staff.find_by_email(owner)
    assert owner_staff is not None
    assert case.assignee_id == owner_staff.staff_id
    return case


def _case_link(page: Page, case: Case) -> Any:
    return page.locator(f'main a[href="/staff/cases/{case.case_id}"]')


def _use_language(page: Page, language: str) -> None:
    """Switch the pages to `language` with the header's switch when they are in the other one."""
    if page.evaluate("document.documentElement.lang") != language:
        page.locator("header button[lang]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
        settled(page)


def _log_no_answer(page: Page, notes: str) -> None:
    form = page.locator("form", has=page.get_by_role("group", name="Outcome of the call"))
    form.get_by_label("No answer").check()
    form.get_by_label("Notes").fill(notes)
    form.get_by_role("button", name="Log the call").click()
    expect(page.locator("#status")).to_have_text("Call logged: No answer.")
    settled(page)
    expect(page.locator("ol.history")).to_contain_text(notes)


def _reload_until(page: Page, system: Runtime, text: str) -> None:
    """Reload the case page until `text` shows in its history, the local system settling in between
    (a bounded wait: a few rounds of the event sources' drain)."""
    for _ in range(5):
        assert system.event_sources.drain(timeout=60)
        page.reload()
        settled(page)
        if page.locator("ol.history").get_by_text(text).count():
            return
    expect(page.locator("ol.history")).to_contain_text(text)


def _fallback_reply_to(http: httpx.Client, case: Case) -> tuple[str, str]:
    """The Reply-To and subject of the fallback email the customer got about this case."""
    contact = Contact.get(case.contact_id)
    found = http.get("/_local/outbox.json", params={"to": str(contact.email), "limit": "1000"}).json()["messages"]
    [fallback] = [
        m for m in found if (dict(m["headers"]).get("X-Closeloop-Ref") or "").startswith(f"msg:{case.case_id}:")
    ]
    headers = dict(fallback["headers"])
    return headers["Reply-To"], fallback["subject"]


def _reply_by_mail(system: Runtime, sender: str, reply_to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = reply_to
    message["Subject"] = f"RE: {subject}"
    message.set_content(f"Bonjour,\n\n{REPLY_TEXT}\n", charset="utf-8")
    with smtplib.SMTP("127.0.0.1", system.smtp_port, timeout=10) as smtp:
        smtp.sendmail(sender, [reply_to], message.as_bytes())


def _attempts(http: httpx.Client, case: Case, email: str) -> list[dict[str, Any]]:
    shown = http.get(f"/cases/{case.case_id}", headers={"authorization": f"Bearer {token_for(http, email)}"})
    assert shown.status_code == 200, shown.text
    attempts: list[dict[str, Any]] = shown.json()["attempts"]
    return attempts


def test_a_caller_works_a_detractor_case_from_the_queue_to_the_customers_reply(
    system: Runtime, http: httpx.Client
) -> None:
    # Given a detractor's case for Thomas, the customer's name and comment hostile markup
    case = _detractor_case(system, http, THOMAS, name=HOSTILE_NAME)

    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, THOMAS)
        _use_language(page, "en")

        # the queue shows the case, the customer's name as text
        entry = _case_link(page, case)
        expect(entry).to_contain_text(HOSTILE_NAME)
        expect(entry).to_contain_text("detractor")
        expect(entry).to_contain_text("Pharmacie des Halles")
        expect(page.locator("#queue-summary")).to_have_text(re.compile(r"^\d+ callbacks?(, \d+ late)?$"))
        entry.click()
        page.wait_for_url(f"{system.url}/staff/cases/{case.case_id}")
        settled(page)

        # the case page: name, comment as text, phone to tap, the detractor script beside the form
        expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_NAME)
        expect(page.locator("blockquote.quote")).to_have_text(HOSTILE_COMMENT)
        expect(page.locator('a[href="tel:+33611223344"]')).to_be_visible()
        script = page.locator("section.script")
        expect(script.get_by_role("heading", level=2)).to_have_text(re.compile("Rappel d'un détracteur"))
        expect(script.get_by_role("heading", name="Ouverture")).to_be_visible()
        script.get_by_role("link", name="Read the script in English").click()
        settled(page)
        expect(page.locator("section.script").get_by_role("heading", name="Opening")).to_be_visible()
        expect(page.locator(".columns", has=page.locator("section.script")).locator("form")).to_have_count(1)

        # two unanswered calls logged through the form
        _log_no_answer(page, "Première tentative, pas de réponse")
        _log_no_answer(page, "Deuxième tentative, toujours rien")
        expect(page.locator("ol.history li", has_text="Call: No answer")).to_have_count(2)

        # the fallback email shows in the history once the local system sent it
        _reload_until(page, system, "Fallback email sent to the customer")

        # the customer answers it by mail: the reply shows in the history
        reply_to, subject = _fallback_reply_to(http, case)
        _reply_by_mail(system, str(Contact.get(case.contact_id).email), reply_to, subject)
        _reload_until(page, system, REPLY_TEXT)
        expect(page.locator("ol.history li", has_text=REPLY_TEXT)).to_contain_text("Customer's reply")

        assert page.locator("main img").count() == 0
        assert page.locator("main script").count() == 0
        assert watched.dialogs == []
        assert watched.script_errors == []
        assert watched.foreign_requests == []


def test_the_queue_and_the_attempt_form_work_with_the_keyboard_alone(system: Runtime, http: httpx.Client) -> None:
    case = _detractor_case(system, http, SARAH, name="Clavier")

    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, SARAH)
        _use_language(page, "en")
        page.reload()
        settled(page)

        # Tab from the page's start reaches the case's link; Enter opens it
        target = f"/staff/cases/{case.case_id}"
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('href')") == target:
                break
        else:
            raise AssertionError("Tab never reached the case's link")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{system.url}{target}")
        settled(page)

        # Tab to the outcome, arrows to "No answer", Tab to the notes, type, Tab to the button, Enter
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.name") == "outcome":
                break
        else:
            raise AssertionError("Tab never reached the outcome")
        page.keyboard.press("Space")  # the first outcome, then the next one with the arrow
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.value") == "no_answer"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "notes"
        page.keyboard.type("Au clavier seulement")
        while page.evaluate("document.activeElement.type") != "submit":
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")

        expect(page.locator("#status")).to_have_text("Call logged: No answer.")
        expect(page.locator("ol.history")).to_contain_text("Au clavier seulement")
        assert [a["outcome"] for a in _attempts(http, case, SARAH)] == ["no_answer"]
        assert watched.script_errors == []


def test_the_queue_and_the_case_fit_a_360_pixel_phone_in_french_and_english_with_every_word_translated(
    system: Runtime, http: httpx.Client
) -> None:
    case = _detractor_case(system, http, AMINA, name="Téléphone")

    with browser() as chromium:
        for viewport, size in ((PHONE, "360"), (DESKTOP, "desktop")):
            page, watched = open_page(chromium, system, viewport=viewport)
            sign_in(page, system, AMINA)
            for language in ("fr", "en"):
                _use_language(page, language)
                page.goto(f"{system.url}/staff")
                settled(page)
                expect(_case_link(page, case)).to_be_visible()
                assert "⟦" not in page.locator("body").inner_text()
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                screenshot(page, f"queue-{size}-{language}")

                _case_link(page, case).click()
                settled(page)
                page.get_by_label("Joint" if language == "fr" else "Reached").check()  # every field shown
                expect(page.locator("blockquote.quote")).to_have_text(HOSTILE_COMMENT)
                assert "⟦" not in page.locator("body").inner_text()
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                screenshot(page, f"case-{size}-{language}")
            assert watched.script_errors == []
            page.context.close()


def test_an_expired_session_sends_the_caller_to_sign_in_and_the_call_is_logged_once_with_the_notes_kept(
    system: Runtime, http: httpx.Client
) -> None:
    case = _detractor_case(system, http, THOMAS, name="Session")
    thomas = Staff.find_by_email(THOMAS)
    assert thomas is not None
    path = f"/staff/cases/{case.case_id}"

    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, THOMAS, path)
        _use_language(page, "en")
        page.get_by_label("Voicemail").check()
        page.get_by_label("Notes").fill("Message laissé, rappeler demain matin")

        # the session expires while the caller types: the API refuses the token
        expired = system.issuer.issue(
            system.login_authorizer,
            subject=thomas.staff_id,
            email=THOMAS,
            groups=sorted(thomas.groups or ()),
            locale=thomas.language,
            lifetime=-60,
        )
        page.evaluate(
            "token => localStorage.setItem('closeloop.session', "
            "JSON.stringify({idToken: token, expiresAt: Date.now() + 3600000}))",
            expired,
        )
        page.get_by_role("button", name="Log the call").click()

        # sent to sign in, back on the case with what was typed
        page.wait_for_url(f"{system.url}/_local/oauth2/authorize?*")
        page.locator(f'form:has(input[name="email"][value="{THOMAS}"]) button').click()
        page.wait_for_url(f"{system.url}{path}")
        settled(page)
        expect(page.get_by_label("Notes")).to_have_value("Message laissé, rappeler demain matin")
        expect(page.get_by_label("Voicemail")).to_be_checked()
        page.get_by_role("button", name="Log the call").click()
        expect(page.locator("#status")).to_have_text("Call logged: Voicemail.")

        stored = _attempts(http, case, THOMAS)
        assert [(a["outcome"], a["notes"]) for a in stored] == [("voicemail", "Message laissé, rappeler demain matin")]
        expect(page.get_by_label("Notes")).to_have_value("")
        assert page.evaluate("key => localStorage.getItem(key)", f"closeloop.draft.attempt:{case.case_id}") is None
        assert watched.script_errors == []


def test_a_case_handed_back_leaves_the_callers_queue(system: Runtime, http: httpx.Client) -> None:
    case = _detractor_case(system, http, SARAH, name="Rendu")

    with browser() as chromium:
        page, watched = open_page(chromium, system)
        sign_in(page, system, SARAH, f"/staff/cases/{case.case_id}")
        _use_language(page, "en")

        page.get_by_role("button", name="Hand this case back").click()
        confirm = page.get_by_role("button", name="Yes, hand it back")
        expect(confirm).to_be_focused()
        confirm.click()

        page.wait_for_url(f"{system.url}/staff")
        settled(page)
        expect(page.locator("#status")).to_have_text("Case of Rendu handed back.")
        expect(page.get_by_role("heading", name="My callbacks")).to_be_visible()
        expect(_case_link(page, case)).to_have_count(0)
        assert Case.get(case.case_id, consistent_read=True).assignment == "handback"
        assert watched.script_errors == []

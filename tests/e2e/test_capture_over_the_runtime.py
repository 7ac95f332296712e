"""Capture through the local runtime: a survey email from the outbox, its score links through the
gateway, the page's Send button in a real Chromium (mouse, then the keyboard alone, in French and
in English), and fifty concurrent POSTs of one answer that leave exactly one response."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from closeloop import clock
from closeloop.models import Click, Invitation, Response, Wave
from closeloop.services.stats import verify_nps
from closeloop_local.runtime import Runtime
from closeloop_local.workers import DEFAULT_MAX_WORKERS
from tests.browser import chromium
from tests.integration.dispatch import body, make_contact, make_wave, reserve
from tests.support import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CONCURRENT_POSTS = 50


def send_survey(system: Runtime, http: httpx.Client, *, language: str, first_name: str) -> tuple[Wave, str, list[str]]:
    """A wave's survey email sent to one new contact through the send queue and the sender, as the
    planner hands batches over; the wave, the invitation id and the email's links."""
    clock.set_state(**system.clock.state())  # items of this process dated on the runtime's clock
    wave = make_wave(closes_at=clock.now() + timedelta(days=60))
    address = f"e2e.capture.{language}.{wave.wave_id.lower()}@pharmacie-du-centre.example"
    contact = make_contact(address, first_name=first_name, language=language)
    batch_id, [invitation_id] = reserve(wave, [contact])
    sqs = system.client("sqs")
    url = sqs.get_queue_url(QueueName=system.physical_name("SendQueue"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body(wave, batch_id, [invitation_id]))
    assert system.event_sources.drain(timeout=60)
    [sent] = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
    return wave, invitation_id, list(sent["links"])


def warm(system: Runtime, http: httpx.Client, workers: int) -> None:
    """Start the capture function's workers a few at a time, as Lambda has them warm under steady
    traffic (fifty cold starts at once on a small machine would only measure its CPUs): each reads
    the survey of a closed wave (410), which writes nothing and leaves its clients ready."""
    _, invitation_id, links = send_survey(system, http, language="en", first_name="Warm")
    Invitation.get(invitation_id).update(actions=[Invitation.closes_at.set(clock.now())])
    closed = next(link for link in links if link.endswith("/1"))
    size = 0
    while size < workers:
        size = min(workers, size + 4)
        with ThreadPoolExecutor(size) as pool:
            statuses = list(pool.map(lambda _: httpx.get(closed, timeout=60).status_code, range(size)))
        assert statuses == [410] * size


def stored(invitation_id: str) -> Response:
    return Response.get(invitation_id, consistent_read=True)


def test_fifty_concurrent_posts_of_one_answer_leave_exactly_one_response_counted_once(
    system: Runtime, http: httpx.Client
) -> None:
    # Given an invitation whose email is in the outbox
    wave, invitation_id, links = send_survey(system, http, language="fr", first_name="Lucie")
    token = next(link for link in links if link.endswith("/7")).split("/")[-2]
    start = threading.Barrier(CONCURRENT_POSTS)
    warm(system, http, DEFAULT_MAX_WORKERS)  # every worker the runtime gives a function

    def post(_: int) -> int:
        with httpx.Client(base_url=system.url, timeout=60) as client:
            start.wait()
            answer = client.post(f"/r/{token}", data={"score": "3", "comment": "Livraisons en retard"})
            return answer.status_code

    # When fifty requests send the same answer at the same moment (double clicks, retries)
    with ThreadPoolExecutor(CONCURRENT_POSTS) as pool:
        statuses = list(pool.map(post, range(CONCURRENT_POSTS)))
    assert system.event_sources.drain(timeout=120)

    # Then every request is thanked, and there is one response, written once
    assert statuses == [200] * CONCURRENT_POSTS
    responses = list(Response.query(invitation_id, consistent_read=True))
    assert len(responses) == 1
    [response] = responses
    assert (response.score, response.comment, response.version, response.edits) == (3, "Livraisons en retard", 1, 0)
    # and the counters that follow the responses' stream count it once
    counted = Wave.get(wave.wave_id, consistent_read=True)
    assert (counted.responded, counted.responded_confirmed) == (1, 1)
    assert [d for d in verify_nps() if wave.wave_id in str(d.target)] == []


def test_a_head_and_a_get_of_a_score_link_through_the_gateway_log_clicks_and_write_no_response(
    system: Runtime, http: httpx.Client
) -> None:
    _, invitation_id, links = send_survey(system, http, language="en", first_name="Grace")
    link = next(link for link in links if link.endswith("/9"))

    head = http.head(link)
    get = http.get(link)

    assert (head.status_code, get.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]
    assert "how likely are you to recommend" in get.text
    assert sorted(click.method for click in Click.query(invitation_id, consistent_read=True)) == ["GET", "HEAD"]
    assert Response.count(invitation_id, consistent_read=True) == 0


def _open_from_outbox(page: Page, system: Runtime, invitation_id: str, link_name: str) -> Page:
    """The outbox page of the invitation, and the survey page its score link opens."""
    page.goto(f"{system.url}/_local/outbox?invitation={invitation_id}")
    frame = page.frame_locator("iframe")
    with page.expect_popup() as opened:
        frame.get_by_role("link", name=link_name).click()
    survey = opened.value
    survey.wait_for_load_state()
    return survey


TEXTS = {
    "fr": {
        "link": "Note 3 sur 10",
        "comment": "Voulez-vous nous en dire plus ? (facultatif)",
        "send": "Envoyer",
        "thanks": "Merci pour votre franchise, Chloé",
        "score": "Votre note : 3 sur 10",
        "updated": "Votre réponse a été mise à jour : 4 sur 10",
        "typed": "Le délai de livraison était trop long.",
        "name": "Chloé",
        "radio": "3 sur 10",
    },
    "en": {
        "link": "Score 3 out of 10",
        "comment": "Would you like to tell us more? (optional)",
        "send": "Send",
        "thanks": "Thank you for your candour, Oliver",
        "score": "Your score: 3 out of 10",
        "updated": "Your answer has been updated: 4 out of 10",
        "typed": "The delivery took far too long.",
        "name": "Oliver",
        "radio": "3 out of 10",
    },
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_person_answers_3_from_the_outbox_then_changes_to_4_with_the_keyboard_alone(
    system: Runtime, http: httpx.Client, language: str
) -> None:
    texts = TEXTS[language]
    _, invitation_id, links = send_survey(system, http, language=language, first_name=texts["name"])
    ARTIFACTS.mkdir(exist_ok=True)

    with chromium() as browser:
        outbox = browser.new_page(viewport={"width": 1100, "height": 1000})
        # Given the survey email in the outbox: a click on 3 opens the page with 3 checked
        survey = _open_from_outbox(outbox, system, invitation_id, texts["link"])
        expect(survey.get_by_role("radio", name=texts["radio"])).to_be_checked()
        assert Response.count(invitation_id, consistent_read=True) == 0, "opening the page records nothing"

        # When the person adds a comment and sends
        survey.get_by_label(texts["comment"]).fill(texts["typed"])
        survey.screenshot(path=str(ARTIFACTS / f"survey-{language}.png"), full_page=True)
        survey.get_by_role("button", name=texts["send"]).click()

        # Then the detractors' thank-you page, and the answer stored
        expect(survey.get_by_role("heading", level=1)).to_contain_text(texts["thanks"])
        expect(survey.locator("main")).to_contain_text(texts["score"])
        survey.screenshot(path=str(ARTIFACTS / f"thanks-{language}.png"), full_page=True)
        assert (stored(invitation_id).score, stored(invitation_id).comment) == (3, texts["typed"])

        # When they open the link again and change to 4 with the keyboard alone
        again = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        again.goto(next(link for link in links if link.endswith("/3")))
        again.keyboard.press("Tab")  # the skip link
        again.keyboard.press("Tab")  # the radio group, on the checked score
        assert again.evaluate("document.activeElement.id") == "score-3"
        again.keyboard.press("ArrowRight")
        assert again.evaluate("document.activeElement.id") == "score-4"
        again.keyboard.press("Tab")
        assert again.evaluate("document.activeElement.id") == "comment"
        assert again.evaluate("document.activeElement.value") == texts["typed"]  # the comment kept
        again.keyboard.press("Tab")
        assert again.evaluate("document.activeElement.type") == "submit"
        again.keyboard.press("Enter")

        # Then the page says the answer was updated, and 4 is stored with the same comment
        expect(again.locator("main")).to_contain_text(texts["updated"])
        again.screenshot(path=str(ARTIFACTS / f"changed-{language}.png"), full_page=True)

    response = stored(invitation_id)
    assert (response.score, response.first_score, response.category) == (4, 3, "detractor")
    assert (response.comment, response.edits, response.confirmed) == (texts["typed"], 1, True)
    assert re.fullmatch(r"\d{4}-\d{2}", response.captured_month or "")

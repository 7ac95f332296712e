"""The demo `make run` seeds: once its wave is sent, some demo contacts answer it, so a newcomer
sees responses (a spread of scores, comments in French and English, one change of mind), and the
demo's last days are written so that the callers' queues are alive: cases in every state, some
overdue, assigned to demo callers."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from closeloop.models import Contact, ContactEmail, Response, Staff, Wave, invitation_id_for
from closeloop.rules.nps import category_of
from closeloop.secrets import email_hash
from closeloop_local.demo import ANSWERS, CONTACTS, DEMO_DOMAIN, OPENING_DELAY, DemoAnswer
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for

CLAIRE = "claire.martin@demo.closeloop.example"


def _demo_wave() -> Wave:
    [wave] = [w for w in Wave.scan() if w.name.startswith("Démo")]
    return wave


def _invitation_of(wave: Wave, address: str) -> str:
    contact = Contact.get(ContactEmail.get(email_hash(address)).contact_id)
    return invitation_id_for(wave.wave_id, contact.contact_id)


def _responses(wave: Wave, addresses: list[str]) -> dict[str, Response]:
    ids = {_invitation_of(wave, address): address for address in addresses}
    return {ids[item.response_id]: item for item in Response.batch_get(list(ids), consistent_read=True)}


def test_once_the_demo_wave_is_sent_some_demo_contacts_answer_it(system: Runtime, http: httpx.Client) -> None:
    # Given the demo wave has gone (it starts a minute after the runtime)
    assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    wave = _demo_wave()
    respondents = [answer.email for answer in ANSWERS]

    # When the demo's respondents have had a moment to answer
    deadline = time.monotonic() + 60
    found = _responses(wave, respondents)
    while len(found) < len(ANSWERS) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = _responses(wave, respondents)

    # Then each has the response they gave last: a spread of scores, comments in both languages
    assert set(found) == set(respondents)
    for answer in ANSWERS:
        response = found[answer.email]
        score, comment = answer.then or (answer.score, answer.comment)
        assert (response.score, response.comment, response.category) == (score, comment, category_of(score))
        assert (response.confirmed, response.source) == (True, "form")
    assert {category_of(answer.score) for answer in ANSWERS} == {"detractor", "passive", "promoter"}
    assert {response.language for response in found.values()} == {"fr", "en"}
    # and the one who changed their mind kept their first score as the first one
    [changed] = [answer for answer in ANSWERS if answer.then]
    assert (found[changed.email].first_score, found[changed.email].score) == (changed.score, changed.then[0])
    # and the other demo contacts did not answer
    silent = [contact.email for contact in CONTACTS if contact.email not in respondents]
    assert silent
    assert _responses(wave, silent) == {}

    # And, once the Responses stream has been read, a manager sees the wave's responses counted
    assert system.event_sources.drain(timeout=120)
    manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}
    assert http.get(f"/waves/{wave.wave_id}", headers=manager).json()["counts"]["responded"] == len(ANSWERS)


def _answer(address: str) -> DemoAnswer:
    return next(answer for answer in ANSWERS if answer.email == address)


def _cases(http: httpx.Client, headers: dict[str, str], **filters: Any) -> dict[str, dict[str, Any]]:
    response = http.get("/cases", params={"limit": 100, **filters}, headers=headers)
    assert response.status_code == 200, response.text
    return {case["case_id"]: case for case in response.json()["cases"]}


def _wait_for_the_demo_history(http: httpx.Client, manager: dict[str, str], wave: Wave) -> dict[str, dict[str, Any]]:
    """The demo cases through the managers' list, once the demo's calls are logged and its SLA
    sweep has fired (the demo writes them in the background after the wave is sent)."""
    closed = {_invitation_of(wave, answer.email) for answer in ANSWERS if answer.shows == "closed"}
    late = {_invitation_of(wave, answer.email) for answer in ANSWERS if answer.shows == "overdue"}
    deadline = time.monotonic() + 120
    while True:
        cases = {}
        for status in ("open", "awaiting_second", "closed"):
            cases |= _cases(http, manager, status=status, wave=wave.wave_id)
        done = closed <= set(cases) and all(cases.get(case_id, {}).get("breached_at") for case_id in late)
        if done or time.monotonic() > deadline:
            return cases
        time.sleep(1)


def test_the_demo_queue_has_cases_in_every_state_some_overdue_assigned_to_demo_callers(
    system: Runtime, http: httpx.Client
) -> None:
    # Given the demo wave has gone and the demo's last days are written
    if _demo_wave().status not in ("sent", "closed"):
        assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    wave = _demo_wave()
    manager = {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}

    cases = _wait_for_the_demo_history(http, manager, wave)

    # Then a manager sees one case per demo answer, each assigned to a demo caller
    by_email = {answer.email: cases.get(_invitation_of(wave, answer.email)) for answer in ANSWERS}
    assert all(by_email.values()), [email for email, case in by_email.items() if case is None]
    callers = {
        staff.staff_id: staff.email
        for staff in Staff.scan()
        if staff.email.endswith(f"@{DEMO_DOMAIN}") and "caller" in (staff.groups or set())
    }
    assert {case["assignee_id"] for case in by_email.values()} <= set(callers)
    assert len({case["assignee_id"] for case in by_email.values()}) >= 3, "the work is shared between callers"
    # in the state the demo means, with the overdue detractors escalated (the SLA sweep ran)
    for email, case in by_email.items():
        answer = _answer(email)
        assert case is not None
        expected = {"overdue": "open", "due_soon": "open", "open": "open"}.get(answer.shows, answer.shows)
        assert case["status"] == expected, (email, case)
        if answer.shows == "overdue":
            assert case["overdue"] is True, email
            assert case["category"] == "detractor"
            assert case["breached_at"] is not None, email
    overdue = _cases(http, manager, overdue="true", wave=wave.wave_id)
    assert {_invitation_of(wave, a.email) for a in ANSWERS if a.shows == "overdue"} <= set(overdue)
    # the calls logged: two failed calls then the fallback email; a promise in the improvement loop
    julien = by_email["pharmacie.centrale@pharma-lyon.example"]
    assert julien is not None
    assert (julien["attempt_count"], julien["failed_attempt_count"]) == (2, 2)
    assert julien["fallback_at"] is not None
    assert callers[julien["assignee_id"]] == f"hugo.bernard@{DEMO_DOMAIN}"  # the account owner
    sebastien = by_email["s.roux@clinique-saint-louis.example"]
    assert sebastien is not None
    assert (sebastien["promise"], sebastien["tags"]) == ("improvement_loop", ["support-responsiveness"])
    assert sebastien["first_exchange"]["kind"] == "call"
    # and the escalation emails went to the managers
    escalations = http.get("/_local/outbox.json", params={"to": CLAIRE, "limit": 200}).json()["messages"]
    assert any("retard" in message["subject"] for message in escalations)


def test_a_demo_caller_finds_an_overdue_case_in_their_queue_with_its_history_and_script(
    system: Runtime, http: httpx.Client
) -> None:
    if _demo_wave().status not in ("sent", "closed"):
        assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    wave = _demo_wave()
    _wait_for_the_demo_history(http, {"Authorization": f"Bearer {token_for(http, CLAIRE)}"}, wave)
    hugo = {"Authorization": f"Bearer {token_for(http, f'hugo.bernard@{DEMO_DOMAIN}')}"}
    julien = _invitation_of(wave, "pharmacie.centrale@pharma-lyon.example")

    queue = http.get("/cases/mine", headers=hugo).json()
    case = http.get(f"/cases/{julien}", headers=hugo).json()

    # Julien Moreau's case is in Hugo's queue (he is the account owner), overdue, the queue by due date
    flags = {entry["case_id"]: entry["overdue"] for entry in queue["cases"]}
    assert flags[julien] is True
    assert queue["overdue"] == sum(flags.values()) >= 1
    due = [_parse(entry["due_at"]) for entry in queue["cases"]]
    assert due == sorted(due)
    # its history reads in order: answered, opened a minute later, then the two calls
    responded = case["response"]["created_at"]
    assert case["responded_at"] == responded
    assert _parse(case["opened_at"]) - _parse(responded) == OPENING_DELAY
    assert [attempt["outcome"] for attempt in case["attempts"]] == ["no_answer", "voicemail"]
    times = [_parse(case["opened_at"]), *(_parse(attempt["attempted_at"]) for attempt in case["attempts"])]
    assert times == sorted(times)
    assert times[-1] < _parse(http.get("/_local/clock").json()["now"])
    # and the call guide is the French detractor script, filled for this customer and this caller
    script = case["script"]
    assert script["script"] == "detractor.fr"
    opening = " ".join(script["sections"][0]["paragraphs"] + script["sections"][0]["bullets"])
    assert "Julien Moreau" in opening
    assert "Hugo Bernard" in opening
    assert "3 sur 10" in opening


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

"""The demo `make run` seeds: once its wave is sent, some demo contacts answer it, so a newcomer
sees responses (a spread of scores, comments in French and English, one change of mind)."""

from __future__ import annotations

import time

import httpx

from closeloop.models import Contact, ContactEmail, Response, Wave, invitation_id_for
from closeloop.rules.nps import category_of
from closeloop.secrets import email_hash
from closeloop_local.demo import ANSWERS, CONTACTS
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

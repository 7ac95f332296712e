"""Waves through the local runtime: created over HTTP, started by their Scheduler schedule when the
clock moves, planned, sent, in the outbox; cancelled, with their schedules gone."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from closeloop.models import Invitation
from closeloop_cli.main import app
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for
from tests.integration.planning_support import add_contacts

CLAIRE = "claire.martin@demo.closeloop.example"  # manager
HUGO = "hugo.bernard@demo.closeloop.example"  # caller


def _auth(http: httpx.Client, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(http, email)}"}


def _wave_schedules(system: Runtime, wave_id: str) -> set[str]:
    names = set()
    for page in system.client("scheduler").get_paginator("list_schedules").paginate():
        names |= {s["Name"] for s in page["Schedules"] if wave_id in s["Name"]}
    return names


def test_a_wave_created_to_start_now_is_planned_and_sent_once_the_clock_moves(
    system: Runtime, http: httpx.Client
) -> None:
    # Given the demo wave has gone (it starts a minute after the runtime), and three new contacts
    assert http.post("/_local/clock", json={"advance": "PT2M"}).status_code == 200
    segment = f"e2e-{uuid.uuid4().hex[:8]}"
    contacts = add_contacts(3, segment=segment, language="en", prefix=segment.replace("-", ""))
    manager = _auth(http, CLAIRE)

    # When a manager creates a wave to their segment, starting now
    created = http.post(
        "/waves",
        json={"name": "E2E wave", "target": {"segments": [segment]}, "subjects": {"en": "One question, E2E"}},
        headers=manager,
    )
    assert created.status_code == 201, created.text
    wave = created.json()
    assert _wave_schedules(system, wave["wave_id"]) == {
        f"closeloop-e2e-wave-{wave['wave_id']}-{step}" for step in ("start", "reminder", "close")
    }
    # and the clock passes its start
    moved = http.post("/_local/clock", json={"advance": "PT2M"}).json()

    # Then its start schedule fired once (and was deleted), every contact has one reserved invitation
    fired = [f for f in moved["fired"] if f["source"].endswith(f"wave-{wave['wave_id']}-start")]
    assert [f["ok"] for f in fired] == [True]
    assert _wave_schedules(system, wave["wave_id"]) == {
        f"closeloop-e2e-wave-{wave['wave_id']}-{step}" for step in ("reminder", "close")
    }
    shown = http.get(f"/waves/{wave['wave_id']}", headers=manager).json()
    assert shown["counts"]["targeted"] == shown["counts"]["reserved"] == 3
    invitations = list(Invitation.by_wave.query(wave["wave_id"]))
    assert {i.contact_id for i in invitations} == {c.contact_id for c in contacts}
    # and the sender took the batch from the send queue: one email each, in the outbox
    for contact in contacts:
        invitation_id = next(i.invitation_id for i in invitations if i.contact_id == contact.contact_id)
        messages = http.get("/_local/outbox.json", params={"invitation": invitation_id}).json()["messages"]
        assert [(m["to"], m["subject"]) for m in messages] == [([contact.email], "One question, E2E")]
    assert http.get(f"/waves/{wave['wave_id']}", headers=manager).json()["counts"]["sent"] == 3


def test_a_cancelled_wave_loses_its_schedules_and_a_caller_may_not_cancel(system: Runtime, http: httpx.Client) -> None:
    manager = _auth(http, CLAIRE)
    created = http.post(
        "/waves",
        json={"name": "To cancel", "target": {"everyone": True}, "starts_at": "2099-01-04T09:00:00+01:00"},
        headers=manager,
    ).json()
    path = f"/waves/{created['wave_id']}"

    refused = http.post(f"{path}/cancel", headers=_auth(http, HUGO))
    cancelled = http.post(f"{path}/cancel", headers=manager)

    assert refused.status_code == 403
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert _wave_schedules(system, created["wave_id"]) == set()
    assert any(
        w["wave_id"] == created["wave_id"] for w in http.get("/waves", headers=_auth(http, HUGO)).json()["waves"]
    )


def test_a_bad_wave_is_a_400_with_the_reason(http: httpx.Client) -> None:
    answer = http.post(
        "/waves",
        json={"name": "Nobody", "target": {"segments": ["no-such-segment"]}},
        headers=_auth(http, CLAIRE),
    )

    assert answer.status_code == 400
    assert answer.json()["message"] == "unknown segment: no-such-segment (no contact is in it)"


def test_the_command_line_creates_lists_shows_and_cancels_a_wave_in_french(
    system: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.setenv("COLUMNS", "160")
    runner = CliRunner()
    assert runner.invoke(app, ["login", "--email", CLAIRE, "--api", system.url]).exit_code == 0
    api = ["--api", system.url]

    created = runner.invoke(
        app,
        ["waves", "create", "--name", "Vague CLI", "--everyone", "--starts-at", "2099-02-01T09:00:00+01:00",
         "--subject", "fr=Une question", *api],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert created.output.startswith("Vague créée : ")
    wave_id = created.output.split(":")[1].split()[0]
    listed = runner.invoke(app, ["waves", "list", *api])
    shown = runner.invoke(app, ["waves", "show", wave_id, *api])
    refused = runner.invoke(app, ["waves", "create", "--name", "Personne", *api])
    cancelled = runner.invoke(app, ["waves", "cancel", wave_id, *api])

    assert wave_id in listed.output
    assert "planifiée" in listed.output
    assert "Vague CLI" in shown.output
    assert "ignorés (sondés il y a moins de 3 mois)" in shown.output
    assert "Une question" in shown.output
    assert refused.exit_code == 1
    assert "choose the target" in refused.output
    assert cancelled.exit_code == 0
    assert cancelled.output.strip() == f"Vague {wave_id} annulée."

"""The SLA timers: each step fires once, at its time, whatever runs twice, restarts or races; and
the emails they make due reach the assignee (reminder) and the managers (escalations, daily).

Each test drives the real sla_sweeper handler against moto with the domain clock set to each
5-minute occurrence, as the scheduler (and the local runtime's clock) would fire it, then feeds
the Cases stream to case_flow and the mail queue to the mailer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closeloop import clock
from closeloop.models import Case
from closeloop.rules.case_events import stored_time
from closeloop.services import mailer, sla_sweeper
from closeloop.settings import get_settings
from closeloop_local.template import ResolvedTemplate
from tests.integration.case_mail_support import (
    CasesStream,
    add_contact,
    add_staff,
    deliver_queued,
    emails_of,
    open_case,
    sweeper_handler,
)
from tests.support import LambdaContext

MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Paris: a detractor is due Tuesday 18:00
EVERY = timedelta(minutes=5)


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    for name in ("MailerFunction", "CaseFlowFunction", "SlaSweeperFunction"):
        for key, value in stack.functions[name].environment.items():
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    mailer.forget()
    return stack


def _sweep_at(moment: datetime) -> dict[str, int]:
    clock.set_state(frozen_at=moment)
    answer: dict[str, int] = sweeper_handler({"source": "aws.events"}, LambdaContext())
    return answer


def _fired(stream: CasesStream | list[dict[str, Any]], case_id: str) -> list[str]:
    """The `last_timer` values the stream shows for a case, in order (each change once)."""
    values = []
    for record in stream.read() if isinstance(stream, CasesStream) else stream:
        new = record["dynamodb"].get("NewImage") or {}
        old = record["dynamodb"].get("OldImage") or {}
        if new.get("case_id", {}).get("S") != case_id:
            continue
        value = new.get("last_timer", {}).get("S")
        if value and value != old.get("last_timer", {}).get("S"):
            values.append(value)
    return values


def test_a_step_fires_once_at_its_time_and_the_next_one_takes_its_place(ready: Any) -> None:
    clock.set_state(frozen_at=MONDAY)
    case = open_case(add_contact("anne@pharmacie.example"), add_staff("c@o.example", name="C", groups={"caller"}))
    remind_at = case.next_timer_at
    assert case.next_timer_step == "remind"
    stream = CasesStream(from_start=False)

    assert _sweep_at(remind_at - EVERY)["fired"] == 0
    assert _sweep_at(remind_at)["fired"] == 1
    assert _sweep_at(remind_at)["fired"] == 0  # the same occurrence again (a retry)
    assert _sweep_at(remind_at + EVERY)["fired"] == 0  # a restart: the next run

    case.refresh(consistent_read=True)
    assert case.last_timer == f"remind@{stored_time(remind_at)}"
    assert (case.next_timer_step, case.next_timer_at) == ("escalate#1", case.due_at)
    assert case.breached_at is None
    assert _fired(stream, case.case_id) == [f"remind@{stored_time(remind_at)}"]


def test_two_sweeps_that_read_the_same_due_steps_fire_each_once(ready: Any) -> None:
    # Given six cases whose reminders are due, and two sweeps that both read them before either
    # writes (moto serialises nothing between threads, so the race is laid out step by step)
    clock.set_state(frozen_at=MONDAY)
    caller = add_staff("c@o.example", name="C", groups={"caller"})
    cases = [open_case(add_contact(f"client{n}@pharmacie.example"), caller) for n in range(6)]
    stream = CasesStream(from_start=False)
    now = cases[0].next_timer_at
    clock.set_state(frozen_at=now)
    seen = [
        [item for shard in range(10) for item in Case.by_timer.query(str(shard), Case.next_timer_at <= now)]
        for _sweep in range(2)
    ]
    assert [len(items) for items in seen] == [6, 6]

    # When both fire what they read
    fired = [
        sla_sweeper.fire_step(item.case_id, str(item.next_timer_step), item.next_timer_at, item.due_at)
        for items in seen
        for item in items
    ]

    # Then each reminder fired once: the second writer's condition failed
    assert sum(1 for result in fired if result is not None) == 6
    records = stream.read()
    for case in cases:
        assert [value.split("@")[0] for value in _fired(records, case.case_id)] == ["remind"]


def test_a_step_already_fired_or_removed_by_the_first_exchange_is_skipped(ready: Any) -> None:
    clock.set_state(frozen_at=MONDAY)
    case = open_case(add_contact("anne@pharmacie.example"), add_staff("c@o.example", name="C", groups={"caller"}))
    step, at = str(case.next_timer_step), case.next_timer_at
    assert sla_sweeper.fire_step(case.case_id, step, at, case.due_at) == ("escalate#1", case.due_at)
    assert sla_sweeper.fire_step(case.case_id, step, at, case.due_at) is None  # a second writer
    Case._get_connection().update_item(
        case.case_id,
        actions=[
            Case.first_exchange_at.set(MONDAY + timedelta(hours=2)),
            Case.timer_shard.remove(),
            Case.next_timer_at.remove(),
            Case.next_timer_step.remove(),
        ],
    )
    assert _sweep_at(case.due_at + timedelta(days=5))["fired"] == 0


def test_three_days_past_due_send_one_reminder_and_one_escalation_per_overdue_day(ready: Any) -> None:
    # Given a detractor's case opened on Monday 09:00 (Paris), assigned to Claire, two managers
    clock.set_state(frozen_at=MONDAY)
    claire = add_staff("claire.dubois@orvalis.example", name="Claire Dubois", groups={"caller"})
    add_staff("marc.petit@orvalis.example", name="Marc Petit", groups={"manager"})
    case = open_case(add_contact("anne@pharmacie.example"), claire)
    stream = CasesStream(from_start=False)
    stream.read()

    # When the clock moves 3 days past the due time, the sweep firing at every 5-minute occurrence
    end = case.due_at + timedelta(days=2, hours=12)
    moment, sweeps, started = case.next_timer_at - timedelta(minutes=30), 0, time.monotonic()
    while moment <= end:
        _sweep_at(moment)
        moment += EVERY
        sweeps += 1
    elapsed = time.monotonic() - started
    clock.set_state(frozen_at=end)
    assert stream.apply() == {"batchItemFailures": []}
    assert deliver_queued()["batchItemFailures"] == []

    # Then Claire got one reminder and the manager one escalation a day: due day, +1, +2
    emails = emails_of(case.case_id)
    subjects = [(str(message["To"]), " ".join(str(message["Subject"]).split())) for message in emails]
    assert subjects == [
        (
            "claire.dubois@orvalis.example",
            "Rappel : un client attend votre appel avant le mardi 3 mars 2026 à 18:00",
        ),
        ("marc.petit@orvalis.example", "Dossier en retard : détracteur, note 3/10"),
        ("marc.petit@orvalis.example", "Dossier en retard de 1 jour : détracteur, note 3/10"),
        ("marc.petit@orvalis.example", "Dossier en retard de 2 jours : détracteur, note 3/10"),
    ]
    case.refresh(consistent_read=True)
    assert case.breached_at == case.due_at
    assert case.next_timer_step == "escalate#4"
    # and a sweep with nothing due stays cheap: 10 queries
    assert sweeps > 700
    assert elapsed / sweeps < 0.5, f"{elapsed / sweeps:.3f} s per sweep"


def test_a_sweep_after_an_outage_fires_the_latest_step_only(ready: Any) -> None:
    # Given a case whose reminder and three escalations fell due while no sweep ran
    clock.set_state(frozen_at=MONDAY)
    add_staff("marc.petit@orvalis.example", name="Marc Petit", groups={"manager"})
    case = open_case(add_contact("anne@pharmacie.example"), add_staff("c@o.example", name="C", groups={"caller"}))
    stream = CasesStream(from_start=False)
    stream.read()

    # When the sweep runs again, 2 days and 3 hours after the due time
    late = case.due_at + timedelta(days=2, hours=3)
    assert _sweep_at(late)["fired"] == 1
    assert stream.apply() == {"batchItemFailures": []}
    assert deliver_queued()["batchItemFailures"] == []

    # Then the managers got one escalation, "overdue by 2 days", and no reminder went out
    [escalation] = emails_of(case.case_id)
    assert " ".join(str(escalation["Subject"]).split()) == "Dossier en retard de 2 jours : détracteur, note 3/10"
    case.refresh(consistent_read=True)
    assert case.last_timer == f"escalate#3@{stored_time(case.due_at + timedelta(days=2))}"
    assert (case.next_timer_step, case.next_timer_at) == ("escalate#4", case.due_at + timedelta(days=3))
    assert case.breached_at == case.due_at

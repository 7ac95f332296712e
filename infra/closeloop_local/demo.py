"""The demo company seeded on start, so that a newcomer's pages and queues are not empty."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from multiprocessing.connection import Connection
from time import monotonic
from typing import Any

from closeloop import clock
from closeloop.errors import Conflict
from closeloop.models import Staff, invitation_id_for
from closeloop.rules.business_time import BusinessCalendar
from closeloop.services.contacts import NewContact, add_contact
from closeloop.services.directory import add_staff
from closeloop.services.taxonomy import add_tag
from closeloop.services.wave_schedules import ScheduleTarget
from closeloop.services.waves import create_wave
from closeloop_local.clock import rule_event

DEMO_DOMAIN = "demo.closeloop.example"

STAFF: list[dict[str, Any]] = [
    {
        "name": "Claire Martin",
        "email": f"claire.martin@{DEMO_DOMAIN}",
        "groups": {"caller", "manager"},
        "language": "fr",
        "department": "experience-client",
    },
    {
        "name": "Hugo Bernard",
        "email": f"hugo.bernard@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "fr",
        "department": "ventes",
    },
    {
        "name": "Amina Diallo",
        "email": f"amina.diallo@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "fr",
        "department": "logistique",
    },
    {
        "name": "Thomas Petit",
        "email": f"thomas.petit@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "fr",
        "department": "ressources-humaines",
    },
    {
        "name": "Sarah Collins",
        "email": f"sarah.collins@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "en",
        "department": "grands-comptes",
    },
    {
        "name": "Marc Dubois",
        "email": f"marc.dubois@{DEMO_DOMAIN}",
        "groups": {"caller", "manager"},
        "language": "fr",
        "department": "direction-generale",
    },
    {
        "name": "Admin Closeloop",
        "email": f"admin@{DEMO_DOMAIN}",
        "groups": {"admin", "manager"},
        "language": "en",
        "department": "informatique",
    },
]

CONTACTS: list[NewContact] = [
    NewContact(
        "dr.lefebvre@cabinet-lefebvre.example",
        "Anne",
        "Lefebvre",
        "+33612345601",
        "Cabinet médical Lefebvre",
        "doctor",
        "fr",
        f"hugo.bernard@{DEMO_DOMAIN}",
    ),
    NewContact(
        "pharmacie.centrale@pharma-lyon.example",
        "Julien",
        "Moreau",
        "+33478123402",
        "Pharmacie Centrale de Lyon",
        "pharmacy",
        "fr",
        f"hugo.bernard@{DEMO_DOMAIN}",
    ),
    NewContact(
        "contact@pharmacie-du-port.example", "Élodie", "Garnier", None, "Pharmacie du Port", "pharmacy", "fr", None
    ),
    NewContact(
        "s.roux@clinique-saint-louis.example",
        "Sébastien",
        "Roux",
        "+33145678904",
        "Clinique Saint-Louis",
        "hospital",
        "fr",
        f"amina.diallo@{DEMO_DOMAIN}",
    ),
    NewContact(
        "n.fontaine@chu-nord.example",
        "Nathalie",
        "Fontaine",
        "+33320456705",
        "CHU Nord",
        "hospital",
        "fr",
        f"amina.diallo@{DEMO_DOMAIN}",
    ),
    NewContact(
        "p.girard@officine-girard.example",
        "Pierre",
        "Girard",
        "+33556789006",
        "Officine Girard",
        "pharmacy",
        "fr",
        None,
    ),
    NewContact(
        "james.walker@northgate-health.example",
        "James",
        "Walker",
        "+442071234507",
        "Northgate Health",
        "partner",
        "en",
        f"sarah.collins@{DEMO_DOMAIN}",
    ),
    NewContact(
        "emily.hughes@riverside-pharmacy.example",
        "Emily",
        "Hughes",
        "+441612345608",
        "Riverside Pharmacy",
        "pharmacy",
        "en",
        f"sarah.collins@{DEMO_DOMAIN}",
    ),
    NewContact(
        "o.brown@brown-medical.example", "Oliver", "Brown", None, "Brown Medical Practice", "doctor", "en", None
    ),
    NewContact(
        "m.schneider@alpen-distribution.example",
        "Martina",
        "Schneider",
        "+41445678910",
        "Alpen Distribution",
        "partner",
        "en",
        f"marc.dubois@{DEMO_DOMAIN}",
    ),
    NewContact(
        "l.mercier@cabinet-mercier.example",
        "Louise",
        "Mercier",
        "+33299887711",
        "Cabinet Mercier",
        "doctor",
        "fr",
        None,
    ),
    NewContact(
        "achats@groupement-pharmaouest.example",
        "Karim",
        "Benali",
        "+33240112212",
        "Groupement PharmaOuest",
        "partner",
        "fr",
        f"marc.dubois@{DEMO_DOMAIN}",
    ),
]


def seed(runtime: Any | None = None) -> dict[str, int]:
    """Add the demo staff, contacts, irritant tags and wave unless the directory already has people
    in it; once the wave is sent, the demo's last days are written (DemoRespondents)."""
    if any(True for _ in Staff.scan(limit=1)):
        return {"staff": 0, "contacts": 0}
    counts, contact_ids = _seed_people()
    counts["tags"] = _seed_taxonomy()
    wave_id = seed_wave(runtime) if runtime is not None else None
    counts["waves"] = 1 if wave_id else 0
    if wave_id:
        DemoRespondents(runtime, wave_id, contact_ids).start()
    return counts


DEMO_WAVE_LEAD = timedelta(seconds=5)


def seed_wave(runtime: Any) -> str | None:
    """A wave to everyone, starting a few seconds after the start: its schedule fires within the
    minute (or at once with `POST /_local/clock {"advance": "PT1M"}`), so the outbox fills."""
    functions = runtime.template.functions
    if "WaveScheduleFunction" not in functions:
        return None
    saved = clock.state()
    clock.set_state(**runtime.clock.state())  # this process reads the runtime's domain time
    try:
        manager = Staff.find_by_email(f"claire.martin@{DEMO_DOMAIN}")
        wave = create_wave(
            name="Démo : enquête de bienvenue / welcome survey",
            segments=[],
            languages=[],
            everyone=True,
            starts_at=clock.now() + DEMO_WAVE_LEAD,
            created_by=manager.staff_id if manager else None,
            schedule_target=ScheduleTarget(runtime.arn("WaveScheduleFunction"), runtime.arn("SchedulerRole")),
        )
    finally:
        clock.set_state(**saved)  # type: ignore[arg-type]
    return wave.wave_id


def _seed_people() -> tuple[dict[str, int], dict[str, str]]:
    """The counts added, and the contact id of each demo address added."""
    for member in STAFF:
        add_staff(**member)
    contact_ids: dict[str, str] = {}
    for contact in CONTACTS:
        try:
            contact_ids[contact.email] = add_contact(contact).contact_id
        except Conflict:
            continue
    return {"staff": len(STAFF), "contacts": len(contact_ids)}, contact_ids


# ------------------------------------------------------------------ the irritant taxonomy

TAXONOMY: list[dict[str, str]] = [
    {
        "tag": "delivery-delays",
        "label_fr": "Retards de livraison",
        "label_en": "Late deliveries",
        "department": "logistique",
    },
    {
        "tag": "stock-shortages",
        "label_fr": "Ruptures de stock",
        "label_en": "Stock shortages",
        "department": "logistique",
    },
    {
        "tag": "ordering-portal",
        "label_fr": "Portail de commande",
        "label_en": "Ordering portal",
        "department": "informatique",
    },
    {"tag": "invoicing", "label_fr": "Facturation", "label_en": "Invoicing", "department": "finance"},
    {
        "tag": "support-responsiveness",
        "label_fr": "Réactivité du service client",
        "label_en": "Customer service responsiveness",
        "department": "experience-client",
    },
    {
        "tag": "sales-pressure",
        "label_fr": "Pression commerciale",
        "label_en": "Sales pressure",
        "department": "ventes",
    },
]
"""The irritants a demo caller can tag a call with, each owned by a department of the demo staff."""


def _seed_taxonomy() -> int:
    added = 0
    for tag in TAXONOMY:
        try:
            add_tag(**tag)
            added += 1
        except Conflict:
            continue
    return added


# ------------------------------------------------------------------ the demo's respondents and callers


@dataclass(frozen=True)
class DemoCall:
    """A call a demo caller logged on a demo case: `days_ago` business days before the demo's
    start, at `at` (the programme's local time)."""

    days_ago: int
    at: time
    outcome: str
    promise: str | None = None
    wants_follow_up: bool | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class DemoAnswer:
    """What one demo contact answers to the demo wave, `days_ago` business days before the demo's
    start at `at` (local time); `then` is a change of mind, sent a few hours later; `calls` are
    the calls logged on its case since; `shows` is the state its case is in when the demo starts
    (`overdue`, `due_soon`, `open`, `awaiting_second`, `closed`)."""

    email: str
    score: int
    comment: str | None
    days_ago: int
    at: time
    shows: str
    then: tuple[int, str | None] | None = None
    calls: tuple[DemoCall, ...] = ()


ANSWERS: list[DemoAnswer] = [
    DemoAnswer(
        "dr.lefebvre@cabinet-lefebvre.example",
        9,
        "Équipe très réactive, merci pour le suivi des commandes.",
        days_ago=6,
        at=time(9, 40),
        shows="closed",
        calls=(
            DemoCall(
                4,
                time(11, 0),
                "reached",
                promise="none",
                wants_follow_up=False,
                notes="Remerciée pour sa note. Apprécie le suivi des commandes par Hugo ; "
                "d'accord pour témoigner auprès d'un confrère.",
            ),
        ),
    ),
    DemoAnswer(
        "pharmacie.centrale@pharma-lyon.example",
        3,
        "Les livraisons arrivent souvent en retard et personne ne nous prévient.",
        days_ago=3,
        at=time(10, 15),
        shows="overdue",
        calls=(
            DemoCall(2, time(14, 30), "no_answer"),
            DemoCall(1, time(9, 45), "voicemail", notes="Message laissé : je rappelle demain matin."),
        ),
    ),
    DemoAnswer(
        "s.roux@clinique-saint-louis.example",
        7,
        None,
        days_ago=7,
        at=time(16, 5),
        shows="awaiting_second",
        calls=(
            DemoCall(
                5,
                time(15, 20),
                "reached",
                promise="improvement_loop",
                wants_follow_up=True,
                tags=("support-responsiveness",),
                notes="Satisfait des produits, mais le service client met plusieurs jours à répondre. "
                "Pris dans le plan d'amélioration ; souhaite un retour.",
            ),
        ),
    ),
    DemoAnswer(
        "n.fontaine@chu-nord.example",
        10,
        "Notre déléguée connaît parfaitement nos besoins.",
        days_ago=2,
        at=time(11, 30),
        shows="open",
    ),
    DemoAnswer(
        "l.mercier@cabinet-mercier.example",
        0,
        "Aucune réponse à mes trois derniers e-mails.",
        days_ago=4,
        at=time(9, 20),
        shows="overdue",
    ),
    DemoAnswer(
        "james.walker@northgate-health.example",
        6,
        "The ordering portal is slow and invoices are hard to read.",
        days_ago=1,
        at=time(15, 10),
        shows="due_soon",
    ),
    DemoAnswer(
        "emily.hughes@riverside-pharmacy.example",
        8,
        "Good service overall, but last winter's shortages hurt us.",
        days_ago=9,
        at=time(14, 0),
        shows="due_soon",
    ),
    DemoAnswer(
        "o.brown@brown-medical.example",
        4,
        "Plenty of sales calls, not enough answers from support.",
        days_ago=3,
        at=time(12, 45),
        shows="overdue",
    ),
    DemoAnswer(
        "m.schneider@alpen-distribution.example",
        5,
        "Deliveries to Switzerland take far too long.",
        days_ago=2,
        at=time(10, 0),
        shows="open",
        then=(7, "Deliveries to Switzerland are slow, but your team always finds a solution."),
    ),
]
"""A spread of scores (0 to 10: four detractors, three passives, two promoters), comments in French
and English, one customer changing their mind, answered over the last days so that the queue has
cases in every state: detractors overdue (one after two failed calls, one without a phone), cases
due soon, open, awaiting the second exchange, closed. The other demo contacts do not answer."""

CHANGE_OF_MIND_AFTER = timedelta(hours=3)
OPENING_DELAY = timedelta(minutes=1)
"""How long after an answer its case is dated as opened (the Responses stream's delay on AWS)."""


def business_day_at(calendar: BusinessCalendar, now: datetime, days_ago: int, at: time) -> datetime:
    """`at` (the calendar's local time) on the business day `days_ago` business days before
    `now`'s day (`days_ago` >= 1: always in the past)."""
    if days_ago < 1:
        raise ValueError("the demo's history is at least one business day old")
    day = now.astimezone(calendar.zone).date()
    counted = 0
    while counted < days_ago:
        day -= timedelta(days=1)
        if calendar.is_business_day(day):
            counted += 1
    return datetime.combine(day, at, tzinfo=calendar.zone).astimezone(UTC)


def answered_at(calendar: BusinessCalendar, now: datetime, answer: DemoAnswer) -> datetime:
    return business_day_at(calendar, now, answer.days_ago, answer.at)


def called_at(calendar: BusinessCalendar, now: datetime, call: DemoCall) -> datetime:
    return business_day_at(calendar, now, call.days_ago, call.at)


_POLL_SECONDS = 1.0
_ANSWER_TIMEOUT_SECONDS = 120.0
_CASES_TIMEOUT_SECONDS = 60.0
_SENT = ("sent", "delivered")
SWEEPER = "SlaSweeperFunction"
log = logging.getLogger(__name__)


class DemoRespondents(threading.Thread):
    """Waits until the demo wave is sent, then writes the demo's last days: the demo contacts of
    ANSWERS answer it at their past times, their cases (opened by the Responses stream) are dated
    from the answers, the demo callers' calls are logged at their times; then one SLA sweep fires
    the reminders and escalations that fell due meanwhile.

    The past is written rather than lived: moving the runtime's clock back days and forward again
    would fire every 5-minute schedule in between (about 0.3 s each: minutes for a week), and the
    runtime's clock is shared with whoever uses it. So the domain time stays the runtime's; the
    answers and calls are written through the domain's own services (capture's `record_response`,
    the cases' `log_attempt`) in a process forked from the runtime's fork server whose domain
    clock is frozen at each past moment in turn, and the Responses stream opens the cases as on
    AWS. A runtime that stops first stops this too.
    """

    def __init__(self, runtime: Any, wave_id: str, contact_ids: dict[str, str]) -> None:
        super().__init__(name="demo-respondents", daemon=True)
        self.runtime = runtime
        self.wave_id = wave_id
        self.answers = [
            (invitation_id_for(wave_id, contact_ids[answer.email]), answer)
            for answer in ANSWERS
            if answer.email in contact_ids
        ]
        self.environment = dict(os.environ)  # the runtime's local environment, taken at the start
        self.environment["POWERTOOLS_METRICS_DISABLED"] = "true"
        self.environment["POWERTOOLS_TRACE_DISABLED"] = "true"

    def _running(self) -> bool:
        return bool(self.runtime.moto_endpoint)

    def run(self) -> None:
        try:
            if self.answers and self._wait_until_sent():
                self._answer()
                self._sweep()
        except Exception as error:  # the demo never takes the runtime down
            if self._running():
                log.warning("the demo's answers failed: %r", error)

    def _wait_until_sent(self) -> bool:
        dynamodb = self.runtime.client("dynamodb")
        table = self.runtime.physical_name("WavesTable")
        stop = threading.Event()
        while self._running():
            item = dynamodb.get_item(
                TableName=table,
                Key={"wave_id": {"S": self.wave_id}},
                ProjectionExpression="#status",
                ExpressionAttributeNames={"#status": "status"},
                ConsistentRead=True,
            ).get("Item")
            status = (item or {}).get("status", {}).get("S")
            if status in ("sent", "closed"):
                return True
            if item is None or status == "cancelled":
                return False
            stop.wait(_POLL_SECONDS)
        return False

    def _answer(self) -> None:
        context = multiprocessing.get_context("forkserver")
        reader, writer = context.Pipe(duplex=False)
        with_cases = "CasesTable" in self.runtime.template.resources
        process = context.Process(
            target=answer_in_process,
            args=(self.environment, self.runtime.clock.state(), self.answers, with_cases, writer),
            name="closeloop-demo-respondents",
            daemon=True,
        )
        process.start()
        writer.close()
        self.runtime.logs.follow("demo", os.dup(reader.fileno()))
        reader.close()
        waited = 0.0
        while process.is_alive() and self._running() and waited < _ANSWER_TIMEOUT_SECONDS:
            process.join(_POLL_SECONDS)
            waited += _POLL_SECONDS
        if process.is_alive():
            process.kill()
            process.join(5)

    def _sweep(self) -> None:
        """One run of the SLA sweeper now, as its 5-minute schedule would, so that the reminders
        and escalations of the demo's late cases are in the outbox at once."""
        if SWEEPER not in self.runtime.template.functions or not self._running():
            return
        self.runtime.event_sources.drain(timeout=30)  # the attempts' consequences first
        resolver = self.runtime.resolver
        event = rule_event(
            None,
            f"arn:aws:events:{resolver.pseudo.region}:{resolver.pseudo.account_id}:rule/closeloop-local-demo",
            resolver.pseudo.account_id,
            resolver.pseudo.region,
        )(self.runtime.clock.now())
        result = self.runtime.invoke(SWEEPER, event)
        if not result.ok:
            log.warning("the demo's SLA sweep failed: %s", result.error)


def answer_in_process(
    environment: dict[str, str],
    clock_state: dict[str, Any],
    plan: list[tuple[str, DemoAnswer]],
    with_cases: bool,
    output: Connection,
) -> None:
    """In a process of its own: the domain package on the local stack records each demo answer
    (and the change of mind after it) at its past time, as the survey page's POST would have;
    then, once the cases are open, dates them from their answers and logs the demo calls."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runtime
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(environment)
    from closeloop.caches import forget_all
    from closeloop.models import Invitation
    from closeloop.rules.sla import business_calendar
    from closeloop.services.capture import record_response
    from closeloop.settings import get_settings

    forget_all()
    clock.set_state(**clock_state)
    now = clock.now()
    calendar = business_calendar(get_settings())
    answered: list[tuple[str, DemoAnswer, datetime]] = []
    for invitation_id, answer in plan:
        try:
            invitation = Invitation.get(invitation_id, consistent_read=True, attributes_to_get=["status"])
            if invitation.status not in _SENT:
                continue
            at = answered_at(calendar, now, answer)
            clock.set_state(frozen_at=at)
            result = record_response(invitation_id, answer.score, answer.comment)
            if answer.then:
                clock.set_state(frozen_at=at + CHANGE_OF_MIND_AFTER)
                result = record_response(invitation_id, *answer.then)
            answered.append((invitation_id, answer, at))
            print(f"demo answer: invitation {invitation_id}, {result.category}")
        except Exception as error:  # one answer failing leaves the others
            print(f"demo answer for invitation {invitation_id} failed: {error!r}")
        finally:
            clock.set_state(**clock_state)
    print(f"{len(answered)} demo contacts answered the demo wave")
    if with_cases and answered:
        _write_calls(answered, now, calendar, clock_state)


def _write_calls(
    answered: list[tuple[str, DemoAnswer, datetime]],
    now: datetime,
    calendar: BusinessCalendar,
    clock_state: dict[str, Any],
) -> None:
    """Each answer's case, once the Responses stream has opened it, dated from its answer; then
    the demo calls, in the order they were made, each at its time."""
    from closeloop.models import Case

    cases = _opened_cases([case_id for case_id, _, _ in answered])
    for case_id, _, at in answered:
        case = cases.get(case_id)
        if case is None:
            print(f"demo case {case_id} was not opened in time")
            continue
        opened = at + OPENING_DELAY
        actions = [Case.opened_at.set(opened), Case.created_at.set(opened)]
        if case.assigned_at is not None:
            actions.append(Case.assigned_at.set(opened))
        case.update(actions=actions, condition=Case.case_id.exists(), add_version_condition=False)
    calls = sorted(
        (
            (called_at(calendar, now, call), case_id, call)
            for case_id, answer, _ in answered
            if case_id in cases
            for call in answer.calls
        ),
        key=lambda planned: planned[0],
    )
    logged = 0
    for at, case_id, call in calls:
        try:
            clock.set_state(frozen_at=at)
            _log_call(case_id, cases[case_id].assignee_id, call)
            logged += 1
        except Exception as error:  # one call failing leaves the others
            print(f"demo call on case {case_id} failed: {error!r}")
        finally:
            clock.set_state(**clock_state)
    print(f"{logged} demo calls logged on {len(cases)} demo cases")


def _opened_cases(case_ids: list[str]) -> dict[str, Any]:
    """The cases of these responses, waiting (a minute at most) for the stream to open them."""
    from pynamodb.exceptions import DoesNotExist

    from closeloop.models import Case

    found: dict[str, Any] = {}
    deadline = monotonic() + _CASES_TIMEOUT_SECONDS
    while len(found) < len(case_ids) and monotonic() < deadline:
        for case_id in case_ids:
            if case_id not in found:
                try:
                    found[case_id] = Case.get(case_id, consistent_read=True)
                except DoesNotExist:
                    continue
        if len(found) < len(case_ids):
            threading.Event().wait(0.2)
    return found


def _log_call(case_id: str, staff_id: str | None, call: DemoCall) -> None:
    from closeloop.rules.attempts import AttemptInput
    from closeloop.services.callbacks import log_attempt

    if staff_id is None:
        raise ValueError("the case has no assignee to call")
    attempt = AttemptInput(
        outcome=call.outcome,
        notes=call.notes,
        tags=frozenset(call.tags),
        promise=call.promise,
        wants_follow_up=call.wants_follow_up,
    )
    log_attempt(case_id, staff_id=staff_id, attempt=attempt)

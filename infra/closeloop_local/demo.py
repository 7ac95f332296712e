"""The demo company seeded on start, so that a newcomer's pages and queues are not empty."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from closeloop import clock
from closeloop.errors import Conflict
from closeloop.models import Staff, invitation_id_for
from closeloop.services.contacts import NewContact, add_contact
from closeloop.services.directory import add_staff
from closeloop.services.wave_schedules import ScheduleTarget
from closeloop.services.waves import create_wave

DEMO_DOMAIN = "demo.closeloop.example"

STAFF: list[dict[str, Any]] = [
    {
        "name": "Claire Martin",
        "email": f"claire.martin@{DEMO_DOMAIN}",
        "groups": {"caller", "manager"},
        "language": "fr",
        "department": "Expérience client",
    },
    {
        "name": "Hugo Bernard",
        "email": f"hugo.bernard@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "fr",
        "department": "Ventes",
    },
    {
        "name": "Amina Diallo",
        "email": f"amina.diallo@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "fr",
        "department": "Logistique",
    },
    {
        "name": "Thomas Petit",
        "email": f"thomas.petit@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "fr",
        "department": "Ressources humaines",
    },
    {
        "name": "Sarah Collins",
        "email": f"sarah.collins@{DEMO_DOMAIN}",
        "groups": {"caller"},
        "language": "en",
        "department": "Key accounts",
    },
    {
        "name": "Marc Dubois",
        "email": f"marc.dubois@{DEMO_DOMAIN}",
        "groups": {"caller", "manager"},
        "language": "fr",
        "department": "Direction générale",
    },
    {
        "name": "Admin Closeloop",
        "email": f"admin@{DEMO_DOMAIN}",
        "groups": {"admin", "manager"},
        "language": "en",
        "department": "IT",
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
    """Add the demo staff, contacts and wave unless the directory already has people in it; once the
    wave is sent, some demo contacts answer it (DemoRespondents)."""
    if any(True for _ in Staff.scan(limit=1)):
        return {"staff": 0, "contacts": 0}
    counts, contact_ids = _seed_people()
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


# ------------------------------------------------------------------ the demo's respondents


@dataclass(frozen=True)
class DemoAnswer:
    """What one demo contact answers to the demo wave; `then` is a change of mind, sent after."""

    email: str
    score: int
    comment: str | None
    then: tuple[int, str | None] | None = None


ANSWERS: list[DemoAnswer] = [
    DemoAnswer("dr.lefebvre@cabinet-lefebvre.example", 9, "Équipe très réactive, merci pour le suivi des commandes."),
    DemoAnswer(
        "pharmacie.centrale@pharma-lyon.example",
        3,
        "Les livraisons arrivent souvent en retard et personne ne nous prévient.",
    ),
    DemoAnswer("s.roux@clinique-saint-louis.example", 7, None),
    DemoAnswer("n.fontaine@chu-nord.example", 10, "Notre déléguée connaît parfaitement nos besoins."),
    DemoAnswer("l.mercier@cabinet-mercier.example", 0, "Aucune réponse à mes trois derniers e-mails."),
    DemoAnswer(
        "james.walker@northgate-health.example", 6, "The ordering portal is slow and invoices are hard to read."
    ),
    DemoAnswer(
        "emily.hughes@riverside-pharmacy.example", 8, "Good service overall, but last winter's shortages hurt us."
    ),
    DemoAnswer("o.brown@brown-medical.example", 4, "Plenty of sales calls, not enough answers from support."),
    DemoAnswer(
        "m.schneider@alpen-distribution.example",
        5,
        "Deliveries to Switzerland take far too long.",
        then=(7, "Deliveries to Switzerland are slow, but your team always finds a solution."),
    ),
]
"""A spread of scores (0 to 10: four detractors, three passives, two promoters), comments in French
and English, one customer changing their mind. The other demo contacts do not answer."""

_POLL_SECONDS = 1.0
_ANSWER_TIMEOUT_SECONDS = 60.0
_SENT = ("sent", "delivered")
log = logging.getLogger(__name__)


class DemoRespondents(threading.Thread):
    """Waits until the demo wave is sent, then has the demo contacts of ANSWERS answer it.

    The answers are written through capture's own `record_response`, as the survey page's Send
    button does, in a process forked from the runtime's fork server with the runtime's domain
    time: the domain clock of this process (shared with whoever imported the runtime) is left
    alone. A runtime that stops first stops this too.
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
        plan = [(invitation_id, answer.score, answer.comment, answer.then) for invitation_id, answer in self.answers]
        process = context.Process(
            target=answer_in_process,
            args=(self.environment, self.runtime.clock.state(), plan, writer),
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


def answer_in_process(
    environment: dict[str, str],
    clock_state: dict[str, Any],
    plan: list[tuple[str, int, str | None, tuple[int, str | None] | None]],
    output: Connection,
) -> None:
    """In a process of its own: the domain package on the local stack, at the runtime's domain time,
    records each demo answer (and the change of mind after it) as the survey page's POST would."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runtime
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(environment)
    from closeloop.caches import forget_all
    from closeloop.models import Invitation
    from closeloop.services.capture import record_response

    forget_all()
    clock.set_state(**clock_state)
    answered = 0
    for invitation_id, score, comment, then in plan:
        try:
            invitation = Invitation.get(invitation_id, consistent_read=True, attributes_to_get=["status"])
            if invitation.status not in _SENT:
                continue
            for given, text in [(score, comment), *([then] if then else [])]:
                result = record_response(invitation_id, given, text)
            answered += 1
            print(f"demo answer: invitation {invitation_id}, {result.category}")
        except Exception as error:  # one answer failing leaves the others
            print(f"demo answer for invitation {invitation_id} failed: {error!r}")
    print(f"{answered} demo contacts answered the demo wave")

"""The demo company seeded on start, so that a newcomer's pages and queues are not empty."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from closeloop import clock
from closeloop.errors import Conflict
from closeloop.models import Staff
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


def seed(runtime: object | None = None) -> dict[str, int]:
    """Add the demo staff, contacts and wave unless the directory already has people in it."""
    if any(True for _ in Staff.scan(limit=1)):
        return {"staff": 0, "contacts": 0}
    counts = _seed_people()
    counts["waves"] = 1 if runtime is not None and seed_wave(runtime) else 0
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


def _seed_people() -> dict[str, int]:
    for member in STAFF:
        add_staff(**member)
    added = 0
    for contact in CONTACTS:
        try:
            add_contact(contact)
            added += 1
        except Conflict:
            continue
    return {"staff": len(STAFF), "contacts": added}

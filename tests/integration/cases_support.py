"""Helpers of the tests of opening and assigning cases: callers in the directory, contacts with an
account owner, invitations sent to them, and the Responses stream fed to response_flow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Case, Contact, Invitation, Staff, invitation_id_for
from closeloop.models.invitation import SendStep
from closeloop.models.staff import pool_of
from closeloop.secrets import email_hash
from closeloop.services.assignment import forget_picks


def add_caller(
    email: str,
    *,
    capacity: int = 20,
    open_cases: int = 0,
    active: bool = True,
    groups: frozenset[str] = frozenset({"caller"}),
    name: str = "Claire Dubois",
) -> Staff:
    """A staff member as the directory keeps them (pool set from groups and state)."""
    staff = Staff(
        new_id(),
        email=email.lower(),
        name=name,
        groups=set(groups),
        active=active,
        capacity=capacity,
        open_cases=open_cases,
        pool=pool_of(groups, active),
    )
    staff.save()
    return staff


def add_contact(*, owner: str | None = None, phone: str | None = "+33612345678", language: str = "fr") -> Contact:
    address = f"{new_id().lower()}@pharmacie.example"
    contact = Contact(
        new_id(),
        email=address,
        email_hash=email_hash(address),
        first_name="Anne",
        last_name="Martin",
        phone=phone,
        company="Pharmacie du Centre",
        language=language,
        segment="pharmacy",
        account_owner=owner,
    )
    contact.save()
    return contact


def invitation_for(wave_id: str, contact: Contact, *, sent_at: datetime | None = None) -> Invitation:
    """An invitation of this contact whose first email went out, as dispatch_ledger leaves it."""
    sent = sent_at or clock.now()
    invitation = Invitation(
        invitation_id_for(wave_id, contact.contact_id),
        wave_id=wave_id,
        contact_id=contact.contact_id,
        status="sent",
        segment=contact.segment,
        language=contact.language,
        weight=1,
        month=sent.strftime("%Y-%m"),
        first_name=contact.first_name,
        email_hash=contact.email_hash,
        closes_at=sent + timedelta(days=21),
    )
    invitation.first = SendStep(state="sent", at=sent, attempts=1, batch_id=new_id())
    invitation.save()
    return invitation


def case_of(case_id: str) -> Case:
    return Case.get(case_id, consistent_read=True)


def stored(case_id: str) -> dict[str, Any]:
    """The case item as DynamoDB holds it (attribute name -> plain value)."""
    raw = Case._get_connection().get_item(case_id, consistent_read=True).get("Item") or {}
    return {name: next(iter(value.values())) for name, value in raw.items()}


def fresh_ledger() -> None:
    forget_picks()

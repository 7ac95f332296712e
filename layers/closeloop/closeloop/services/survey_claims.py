"""R2 on the contact item: claiming a survey with a conditional write, and giving a claim back.

The rule is checked in code (closeloop.rules.pressure) on the ledger read, then written with a
condition that re-checks it on what is stored: the ledger's own version (`survey_version`, not the
contact's `version`, so an edit and a claim never fail each other), the newest entry old enough
(gap), the entry `max - 1` old enough (window), and this wave's entry absent. Two waves planning
the same contact at the same moment: one write wins, the other is refused, re-reads and skips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pynamodb.expressions.condition import Condition

from closeloop.models import Contact
from closeloop.models.transact import TransactionGaveUp, transact_updates, update_request
from closeloop.rules.pressure import PressureRules, Verdict, bounds, evaluate
from closeloop.settings import Settings, get_settings

LEDGER_ATTRIBUTES = (
    "contact_id",
    "email",
    "email_hash",
    "segment",
    "language",
    "weight",
    "survey_dates",
    "survey_version",
    "erased_at",
)
"""What planning reads of a contact."""

REREAD_ROUNDS = 4


def rules_from(settings: Settings | None = None) -> PressureRules:
    settings = settings or get_settings()
    return PressureRules(
        max_per_window=settings.survey_max_per_year,
        window_months=settings.survey_window_months,
        min_gap_months=settings.survey_min_gap_months,
        timezone=settings.timezone,
    )


@dataclass
class Claims:
    """What became of the contacts offered to `claim_surveys`."""

    claimed: list[Contact] = field(default_factory=list)
    """Claimed by this call: each gets a new invitation."""
    already: list[Contact] = field(default_factory=list)
    """Found claimed by this wave when first read."""
    recovered: list[Contact] = field(default_factory=list)
    """Refused, then found claimed by this wave (an earlier attempt of the same work, or a lost answer)."""
    skipped: list[tuple[Contact, str]] = field(default_factory=list)
    """Not eligible, with the reason (pressure_gap, pressure_max)."""


def read_contacts(contact_ids: Iterable[str], *, consistent: bool = False) -> dict[str, Contact]:
    """The contacts that exist among these ids (BatchGetItem, 100 keys a call)."""
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        return {}
    found = Contact.batch_get(ids, consistent_read=consistent, attributes_to_get=list(LEDGER_ATTRIBUTES))
    return {contact.contact_id: contact for contact in found}


def ledger_of(contact: Contact) -> list[str]:
    """The contact's R2 ledger as stored (entries newest first)."""
    return [str(entry) for entry in contact.survey_dates or []]


def _version_condition(contact: Contact) -> Condition:
    version = int(contact.survey_version or 0)
    condition: Condition = Contact.survey_version == version
    if version == 0:
        condition = Contact.survey_version.does_not_exist() | condition
    return condition


def claim_request(
    contact: Contact, verdict: Verdict, *, at: datetime, now: datetime, rules: PressureRules
) -> dict[str, Any]:
    """The conditional Update that claims `verdict.entry` on the contact's ledger."""
    limits = bounds(at, rules)
    condition = (
        _version_condition(contact)
        & (Contact.survey_dates[0].does_not_exist() | (Contact.survey_dates[0] <= limits.gap))
        & (
            Contact.survey_dates[limits.window_index].does_not_exist()
            | (Contact.survey_dates[limits.window_index] <= limits.window)
        )
        & ~Contact.survey_dates.contains(verdict.entry)
        & Contact.contact_id.exists()
        & Contact.erased_at.does_not_exist()
    )
    actions = [
        Contact.survey_dates.set(cast(Any, list(verdict.ledger))),
        Contact.survey_version.set(int(contact.survey_version or 0) + 1),
        Contact.last_activity_at.set(now),
    ]
    return update_request(Contact, contact.contact_id, actions, condition)


def claim_surveys(
    contacts: Sequence[Contact], *, wave_id: str, at: datetime, now: datetime, rules: PressureRules | None = None
) -> Claims:
    """Claim a survey of wave `wave_id` (starting `at`) for each contact R2 allows, in
    transactions of up to 100 claims; a refused claim is re-read (consistently) and decided again."""
    rules = rules or rules_from()
    result = Claims()
    candidates = list(contacts)
    first_read = True
    for _ in range(REREAD_ROUNDS):
        to_claim: list[tuple[Contact, Verdict]] = []
        for contact in candidates:
            verdict = evaluate(ledger_of(contact), wave_id=wave_id, at=at, rules=rules)
            if verdict.outcome == "claimed":
                (result.already if first_read else result.recovered).append(contact)
            elif verdict.outcome == "skip":
                result.skipped.append((contact, verdict.reason or "pressure_gap"))
            else:
                to_claim.append((contact, verdict))
        first_read = False
        if not to_claim:
            return result
        requests = [claim_request(contact, verdict, at=at, now=now, rules=rules) for contact, verdict in to_claim]
        refused = transact_updates(Contact, requests)
        result.claimed.extend(contact for index, (contact, _) in enumerate(to_claim) if index not in refused)
        if not refused:
            return result
        fresh = read_contacts((to_claim[index][0].contact_id for index in refused), consistent=True)
        candidates = [
            fresh[to_claim[index][0].contact_id] for index in sorted(refused) if to_claim[index][0].contact_id in fresh
        ]
    raise TransactionGaveUp(f"claims still refused after {REREAD_ROUNDS} reads")


def release_surveys(entries: Sequence[tuple[str, str]]) -> set[str]:
    """Give back claimed entries ((contact_id, entry) pairs) whose first email never left; the
    contacts whose entry was removed by this call. Idempotent: an entry already gone is left alone."""
    if not entries:
        return set()
    contacts = read_contacts((contact_id for contact_id, _ in entries), consistent=True)
    requests: list[dict[str, Any]] = []
    owners: list[str] = []
    for contact_id, entry in entries:
        contact = contacts.get(contact_id)
        ledger = ledger_of(contact) if contact is not None else []
        if entry not in ledger:
            continue
        index = ledger.index(entry)
        requests.append(
            update_request(
                Contact,
                contact_id,
                [Contact.survey_dates[index].remove(), Contact.survey_version.add(1)],
                Contact.survey_dates[index] == entry,
            )
        )
        owners.append(contact_id)
    refused = transact_updates(Contact, requests)
    return {owner for index, owner in enumerate(owners) if index not in refused}

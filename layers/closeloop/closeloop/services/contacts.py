"""Contacts: add, edit, show, list and search; every write keeps the unique email lookup in step.

The rules of each field are in closeloop.rules.contact_fields, shared with the CSV import. A
contact and its lookup item are created in one transaction; an email change moves the lookup in
the transaction that updates the contact. Edits are version-checked: someone who edits a contact
that changed since they read it gets a 409 and reloads.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from closeloop import clock
from closeloop.errors import Conflict, Gone, InvalidInput, NotFound
from closeloop.ids import new_id
from closeloop.models import Contact, ContactEmail, Staff, Suppression
from closeloop.rules import contact_fields as rules
from closeloop.rules.contact_fields import FieldProblem, Language, company_key
from closeloop.rules.pressure import parse_entry
from closeloop.secrets import email_hash
from closeloop.settings import get_settings

__all__ = [
    "EDITABLE",
    "NewContact",
    "add_contact",
    "company_key",
    "contact_view",
    "edit_contact",
    "find_contacts",
    "get_contact",
    "suppressed_hashes",
    "suppression_reason",
]

EDITABLE = ("email", "first_name", "last_name", "phone", "company", "segment", "language", "account_owner", "weight")
MAX_PAGE = 100

_INVALID: dict[Language, str] = {"en": "the contact is not valid", "fr": "le contact n'est pas valide"}
_RELOAD: dict[Language, str] = {
    "en": "someone else changed this contact: reload it and apply your change again",
    "fr": "quelqu'un d'autre a modifié ce contact : rechargez-le et refaites votre modification",
}
_EMAIL_TAKEN: dict[Language, str] = {
    "en": "a contact with this email already exists",
    "fr": "un contact a déjà cette adresse e-mail",
}


@dataclass(frozen=True)
class NewContact:
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None
    segment: str = rules.DEFAULT_SEGMENT
    language: str = "fr"
    account_owner: str | None = None
    weight: float | Decimal | str = 1


# ------------------------------------------------------------------ validation


def clean(values: Mapping[str, Any], language: Language = "en") -> dict[str, Any]:
    """The normal form of each field given (None clears an optional field); all problems at once.

    Raises InvalidInput whose details list every problem: `{"where", "code", "problem"}`.
    """
    cleaned: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in values.items():
        try:
            cleaned[name] = _clean_one(name, raw)
        except FieldProblem as problem:
            problems.append(problem)
    owner = cleaned.get("account_owner")
    if owner and not any(p.field == "account_owner" for p in problems) and not staff_exists(owner):
        problems.append(FieldProblem("unknown_account_owner", "account_owner"))
    if problems:
        colon = " : " if language == "fr" else ": "
        raise InvalidInput(
            _INVALID[language] + colon + "; ".join(p.message(language) for p in problems),
            details=[{"where": f"body.{p.field}", "code": p.code, "problem": p.message(language)} for p in problems],
        )
    return cleaned


def _text_value(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _clean_one(name: str, raw: Any) -> Any:
    text = _text_value(raw)
    if name == "email":
        return rules.email(text)
    if name == "phone":
        return rules.phone(text)
    if name in ("first_name", "last_name"):
        return rules.text(text, name, rules.MAX_NAME)
    if name == "company":
        return rules.text(text, name, rules.MAX_COMPANY)
    if name == "segment":
        return rules.segment(text, default=None if raw is not None else rules.DEFAULT_SEGMENT)
    if name == "language":
        return rules.language(text, default=get_settings().default_language if raw is None else None)
    if name == "account_owner":
        return rules.account_owner(text)
    if name == "weight":
        # Stored as a float whose shortest form is the 4-decimal value (NumberAttribute writes JSON).
        return float(rules.weight(raw if not isinstance(raw, float) else str(raw)))
    raise FieldProblem("unknown_field", name)


def staff_exists(email: str) -> bool:
    """Whether an active staff member signs in with this email (account owners must)."""
    staff = Staff.find_by_email(email)
    return staff is not None and bool(staff.active)


def set_derived(contact: Contact) -> None:
    """The attributes computed from others: lookup hash, company key, name keys."""
    contact.company_key = company_key(contact.company)
    keys = rules.name_keys(contact.first_name, contact.last_name, contact.contact_id)
    contact.name_prefix, contact.name_sort = keys if keys else (None, None)


# ------------------------------------------------------------------ add, show, edit


def add_contact(new: NewContact, language: Language = "en") -> Contact:
    """Create a contact and its email lookup in one transaction; an email already known is a conflict."""
    values = clean(
        {
            "email": new.email,
            "first_name": new.first_name,
            "last_name": new.last_name,
            "phone": new.phone,
            "company": new.company,
            "segment": new.segment,
            "language": new.language,
            "account_owner": new.account_owner,
            "weight": new.weight,
        },
        language,
    )
    hashed = email_hash(values["email"])
    contact = Contact(new_id(), email_hash=hashed, last_activity_at=clock.now(), **values)
    set_derived(contact)
    lookup = ContactEmail(hashed, contact_id=contact.contact_id)
    try:
        with TransactWrite(connection=Connection()) as transaction:
            transaction.save(lookup, condition=ContactEmail.email_hash.does_not_exist())
            transaction.save(contact, condition=Contact.contact_id.does_not_exist())
    except TransactWriteError as error:
        raise Conflict(_EMAIL_TAKEN[language], details=_existing(hashed)) from error
    return contact


def _existing(hashed: str) -> dict[str, str] | None:
    try:
        return {"contact_id": ContactEmail.get(hashed).contact_id}
    except DoesNotExist:
        return None


def get_contact(contact_id: str) -> Contact:
    """The contact, or NotFound; an erased contact is Gone."""
    try:
        contact = Contact.get(contact_id)
    except DoesNotExist:
        raise NotFound("no such contact") from None
    if contact.erased_at is not None:
        raise Gone("this contact was erased")
    return contact


def edit_contact(contact_id: str, changes: Mapping[str, Any], version: int, language: Language = "en") -> Contact:
    """Change some fields of a contact that is still at `version`; None clears an optional field.

    An email change moves the lookup item in the same transaction as the contact's update.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"fields that cannot be edited: {', '.join(unknown)}")
    for required in ("email", "segment", "language", "weight"):
        if required in changes and changes[required] is None:
            raise InvalidInput(
                _INVALID[language],
                details=[{"where": f"body.{required}", "code": "required", "problem": f"{required} cannot be empty"}],
            )
    values = clean(changes, language)
    contact = get_contact(contact_id)
    if int(contact.version or 0) != int(version):
        raise Conflict(_RELOAD[language], details={"version": int(contact.version or 0)})
    changed = {name: value for name, value in values.items() if _differs(getattr(contact, name), value)}
    if not changed:
        return contact
    old_hash = contact.email_hash
    for name, value in changed.items():
        setattr(contact, name, value)
    set_derived(contact)
    now = clock.now()
    actions = _update_actions(contact, [*changed, "company_key", "name_prefix", "name_sort"], now)
    if "email" in changed:
        new_hash = email_hash(changed["email"])
        contact.email_hash = new_hash
        actions.append(Contact.email_hash.set(new_hash))
        _move_email(contact, actions, old_hash, new_hash, language)
    else:
        try:
            contact.update(actions=actions)
        except UpdateError as error:
            if _condition_failed(error):
                raise Conflict(_RELOAD[language]) from error
            raise
    return contact


def _differs(stored: Any, value: Any) -> bool:
    if isinstance(value, Decimal) or isinstance(stored, Decimal | int | float):
        return stored is None or value is None or Decimal(str(stored)) != Decimal(str(value))
    return bool(stored != value)


def _update_actions(contact: Contact, names: Iterable[str], now: Any) -> list[Action]:
    attributes = Contact.get_attributes()
    actions: list[Action] = []
    for name in dict.fromkeys(names):
        value = getattr(contact, name)
        attribute = attributes[name]
        actions.append(attribute.remove() if value is None else attribute.set(value))
    actions += [Contact.updated_at.set(now), Contact.last_activity_at.set(now)]
    return actions


def _move_email(
    contact: Contact, actions: list[Action], old_hash: str | None, new_hash: str, language: Language
) -> None:
    try:
        with TransactWrite(connection=Connection()) as transaction:
            if old_hash:
                transaction.delete(
                    ContactEmail(old_hash, contact_id=contact.contact_id),
                    condition=ContactEmail.contact_id == contact.contact_id,
                )
            transaction.save(
                ContactEmail(new_hash, contact_id=contact.contact_id),
                condition=ContactEmail.email_hash.does_not_exist(),
            )
            transaction.update(contact, actions=actions)
    except TransactWriteError as error:
        reasons = [getattr(r, "code", None) if r else None for r in (error.cancellation_reasons or [])]
        new_lookup = 1 if old_hash else 0
        if len(reasons) > new_lookup and reasons[new_lookup] == "ConditionalCheckFailed":
            raise Conflict(_EMAIL_TAKEN[language], details=_existing(new_hash)) from error
        raise Conflict(_RELOAD[language]) from error


def _condition_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


# ------------------------------------------------------------------ views


def suppression_reason(hashed: str | None) -> str | None:
    """Why an address is suppressed (unsubscribe, bounce, complaint, manual, mail), or None."""
    if not hashed:
        return None
    try:
        return str(Suppression.get(hashed, attributes_to_get=["email_hash", "reason"]).reason)
    except DoesNotExist:
        return None


def suppressed_hashes(hashes: Iterable[str]) -> set[str]:
    """Which of these email hashes are suppressed (BatchGetItem, 100 at a time)."""
    wanted = {h for h in hashes if h}
    if not wanted:
        return set()
    return {item.email_hash for item in Suppression.batch_get(list(wanted), attributes_to_get=["email_hash"])}


def _last_survey(contact: Contact) -> dict[str, str] | None:
    """The newest survey of the contact's R2 ledger (entries newest first): when, and which wave."""
    entries = [str(entry) for entry in contact.survey_dates or []]
    if not entries:
        return None
    try:
        at, wave_id = parse_entry(max(entries))
    except ValueError:
        return None
    return {"at": at.isoformat(), "wave_id": wave_id}


def contact_view(contact: Contact, *, suppressed: bool, suppression_reason: str | None = None) -> dict[str, Any]:
    """What the API shows of a contact; `suppression_reason` when the caller read it (one contact)."""
    weight = Decimal(str(contact.weight if contact.weight is not None else 1))
    return {
        "contact_id": contact.contact_id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "company": contact.company,
        "segment": contact.segment,
        "language": contact.language,
        "account_owner": contact.account_owner,
        "weight": int(weight) if weight == weight.to_integral_value() else float(weight),
        "suppressed": suppressed,
        "suppression_reason": suppression_reason if suppressed else None,
        "last_survey": _last_survey(contact),
        "version": int(contact.version or 0),
        "created_at": contact.created_at.isoformat() if contact.created_at else None,
        "updated_at": contact.updated_at.isoformat() if contact.updated_at else None,
        "import_id": contact.import_id,
    }


# ------------------------------------------------------------------ list and search


@dataclass(frozen=True)
class Page:
    contacts: list[Contact]
    next_cursor: str | None


@dataclass(frozen=True)
class _Source:
    """One index (or the table) walked for a search: ids come from it, then a BatchGetItem."""

    name: str
    query: Callable[[dict[str, Any] | None, int], Any]
    full_items: bool = False
    skip: Callable[[Contact], bool] | None = None


def _encode(phase: int, key: dict[str, Any] | None) -> str:
    raw = json.dumps({"p": phase, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str | None, phases: int) -> tuple[int, dict[str, Any] | None]:
    if not cursor:
        return 0, None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        phase, key = int(raw["p"]), raw["k"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput("the cursor is not valid: start again without it") from None
    if not 0 <= phase < phases or not (key is None or isinstance(key, dict)):
        raise InvalidInput("the cursor is not valid: start again without it")
    return phase, key


def find_contacts(
    *,
    q: str | None = None,
    segment: str | None = None,
    language: str | None = None,
    owner: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    reader: Language = "en",
) -> Page:
    """Contacts matching every filter given, a page at a time (`next_cursor` for the next page).

    `q` with an `@` is an exact email (the lookup item); otherwise it is a company (exact, without
    case or accents) and then a name prefix (`dup`, `dupont mar`). The first filter that has an
    index drives the query: q, then owner, then segment; without any, the table is scanned.
    """
    limit = max(1, min(int(limit), MAX_PAGE))
    try:
        wanted_segment = rules.segment(segment, default=None) if segment else None
        wanted_language = rules.language(language) if language else None
    except FieldProblem as problem:
        raise InvalidInput(problem.message(reader)) from None
    wanted_owner = (owner or "").strip().lower() or None
    text = (q or "").strip()

    def keep(contact: Contact) -> bool:
        return (
            contact.erased_at is None
            and (wanted_segment is None or contact.segment == wanted_segment)
            and (wanted_language is None or contact.language == wanted_language)
            and (wanted_owner is None or contact.account_owner == wanted_owner)
        )

    if "@" in text:
        return Page([c for c in _by_email(text) if keep(c)], None)
    sources = _sources(text, wanted_owner, wanted_segment)
    phase, key = _decode(cursor, len(sources))
    found: list[Contact] = []
    rounds = 0
    while phase < len(sources) and len(found) < limit and rounds < 10:
        rounds += 1
        source = sources[phase]
        results = source.query(key, limit - len(found))
        items = list(results)
        key = results.last_evaluated_key
        contacts = items if source.full_items else _fetch([item.contact_id for item in items])
        found += [c for c in contacts if keep(c) and not (source.skip and source.skip(c))]
        if key is None:
            phase += 1
    return Page(found, _encode(phase, key) if phase < len(sources) else None)


def _by_email(text: str) -> list[Contact]:
    try:
        normal = rules.email(text)
    except FieldProblem:
        return []
    try:
        lookup = ContactEmail.get(email_hash(normal))
        return [Contact.get(lookup.contact_id)]
    except DoesNotExist:
        return []


def _sources(text: str, owner: str | None, segment: str | None) -> list[_Source]:
    if text:
        sources: list[_Source] = []
        company = company_key(text)
        if company:
            sources.append(
                _Source("company", lambda k, n: Contact.by_company.query(company, limit=n, last_evaluated_key=k))
            )
        name = rules.search_key(text)
        if len(name) >= 2:
            sources.append(
                _Source(
                    "name",
                    lambda k, n: Contact.by_name.query(
                        name[:2], Contact.name_sort.startswith(name), limit=n, last_evaluated_key=k
                    ),
                    skip=lambda c: company is not None and c.company_key == company,
                )
            )
        if not sources:
            raise InvalidInput("search for at least 2 letters of a name, a company or an email")
        return sources
    if owner:
        return [_Source("owner", lambda k, n: Contact.by_owner.query(owner, limit=n, last_evaluated_key=k))]
    if segment:
        return [_Source("segment", lambda k, n: Contact.by_segment.query(segment, limit=n, last_evaluated_key=k))]
    return [_Source("all", lambda k, n: Contact.scan(limit=n, last_evaluated_key=k), full_items=True)]


def _fetch(contact_ids: list[str]) -> list[Contact]:
    """Contacts by id, in the order given (BatchGetItem)."""
    if not contact_ids:
        return []
    found = {c.contact_id: c for c in Contact.batch_get(contact_ids)}
    return [found[i] for i in contact_ids if i in found]

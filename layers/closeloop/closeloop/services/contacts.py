"""Contacts: adding one with its unique email lookup (the import and the API build on this)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from closeloop.errors import Conflict, InvalidInput
from closeloop.ids import new_id
from closeloop.models import Contact, ContactEmail
from closeloop.secrets import email_hash, normalise_email

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class NewContact:
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None
    segment: str = "general"
    language: str = "fr"
    account_owner: str | None = None
    weight: float = 1.0


def company_key(company: str | None) -> str | None:
    """Companies compared without case, accents or punctuation (the by_company index)."""
    if not company:
        return None
    folded = unicodedata.normalize("NFKD", company).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", folded).strip() or None


def add_contact(new: NewContact) -> Contact:
    """Create a contact and its email lookup in one transaction; an email already known is a conflict."""
    email = normalise_email(new.email)
    if not _EMAIL.match(email):
        raise InvalidInput("the email address is not valid")
    if new.language not in {"fr", "en"}:
        raise InvalidInput("language must be fr or en")
    hashed = email_hash(email)
    contact = Contact(
        new_id(),
        email=email,
        email_hash=hashed,
        first_name=new.first_name,
        last_name=new.last_name,
        phone=new.phone,
        company=new.company,
        company_key=company_key(new.company),
        segment=new.segment,
        language=new.language,
        account_owner=new.account_owner.strip().lower() if new.account_owner else None,
        weight=new.weight,
    )
    lookup = ContactEmail(hashed, contact_id=contact.contact_id)
    try:
        with TransactWrite(connection=Connection()) as transaction:
            transaction.save(lookup, condition=ContactEmail.email_hash.does_not_exist())
            transaction.save(contact, condition=Contact.contact_id.does_not_exist())
    except TransactWriteError as error:
        raise Conflict("a contact with this email already exists") from error
    return contact

"""Contact routes: add, edit, show, list and search (staff reads, managers write)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from closeloop.api.resolver import STAFF_SECURITY, request_language
from closeloop.services import contacts

router = Router()

_TEXT = 320


class ContactIn(BaseModel):
    """A new contact. Only the email is required."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=_TEXT, description="Unique; compared without case.")
    first_name: str | None = Field(default=None, max_length=_TEXT)
    last_name: str | None = Field(default=None, max_length=_TEXT)
    phone: str | None = Field(default=None, max_length=40, description="Any usual form; stored as E.164.")
    company: str | None = Field(default=None, max_length=_TEXT)
    segment: str = Field(default="general", max_length=80, description="A slug (letters, digits, - and _).")
    language: str | None = Field(default=None, max_length=20, description="fr or en (default: the programme's).")
    account_owner: str | None = Field(default=None, max_length=_TEXT, description="Email of a staff member.")
    weight: float | str = Field(default=1.0, description="Weight in weighted NPS: above 0, at most 1000.")


class ContactChanges(BaseModel):
    """The fields to change (null clears an optional one), and the version that was read."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The contact's version when it was read: a change made since is a 409.")
    email: str | None = Field(default=None, max_length=_TEXT)
    first_name: str | None = Field(default=None, max_length=_TEXT)
    last_name: str | None = Field(default=None, max_length=_TEXT)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=_TEXT)
    segment: str | None = Field(default=None, max_length=80)
    language: str | None = Field(default=None, max_length=20)
    account_owner: str | None = Field(default=None, max_length=_TEXT)
    weight: float | str | None = None


def _view(contact: Any) -> dict[str, Any]:
    reason = contacts.suppression_reason(contact.email_hash)
    return contacts.contact_view(contact, suppressed=reason is not None, suppression_reason=reason)


_ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "Invalid input: the details say which field and why"},
    401: {"description": "Not signed in"},
    403: {"description": "Not in a group that may do this"},
}


@router.post(
    "/contacts",
    summary="Add a contact",
    description="Creates a contact; its email (normalised) must not belong to another contact. Managers only.",
    tags=["contacts"],
    security=STAFF_SECURITY,
    responses={201: {"description": "The contact"}, 409: {"description": "The email belongs to a contact"}, **_ERRORS},
)
def add_contact(contact: Annotated[ContactIn, Body()]) -> Response[str]:
    created = contacts.add_contact(contacts.NewContact(**contact.model_dump()), request_language(router))
    body = contacts.contact_view(created, suppressed=bool(contacts.suppressed_hashes([created.email_hash or ""])))
    return Response(201, "application/json", json.dumps(body), headers={"Location": f"/contacts/{created.contact_id}"})


@router.get(
    "/contacts",
    summary="List and search contacts",
    description=(
        "Every filter given must match. `q` is an exact email when it has an @, otherwise a company "
        "(without case or accents) and then a name prefix (`dup`, `dupont mar`). Pages of up to "
        "`limit` contacts; pass `next_cursor` back as `cursor` for the next page."
    ),
    tags=["contacts"],
    security=STAFF_SECURITY,
    responses={200: {"description": "A page of contacts"}, **_ERRORS},
)
def list_contacts(
    *,
    q: Annotated[str | None, Query(max_length=320)] = None,
    segment: Annotated[str | None, Query(max_length=80)] = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
    owner: Annotated[str | None, Query(max_length=320)] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    page = contacts.find_contacts(
        q=q,
        segment=segment,
        language=language,
        owner=owner,
        cursor=cursor,
        limit=limit,
        reader=request_language(router),
    )
    suppressed = contacts.suppressed_hashes(c.email_hash for c in page.contacts if c.email_hash)
    return {
        "contacts": [contacts.contact_view(c, suppressed=c.email_hash in suppressed) for c in page.contacts],
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/contacts/<contact_id>",
    summary="Show a contact",
    description=(
        "The contact, with whether its address is suppressed and why (`suppression_reason`), and its "
        "last survey (`last_survey`: when, which wave). An erased contact answers 410."
    ),
    tags=["contacts"],
    security=STAFF_SECURITY,
    responses={200: {"description": "The contact"}, 404: {"description": "No such contact"}, **_ERRORS},
)
def show_contact(contact_id: str) -> dict[str, Any]:
    return _view(contacts.get_contact(contact_id))


@router.patch(
    "/contacts/<contact_id>",
    summary="Edit a contact",
    description=(
        "Changes the fields given (null clears an optional field). `version` is the version that was "
        "read: if someone changed the contact since, the answer is 409 and nothing changes. "
        "Managers only."
    ),
    tags=["contacts"],
    security=STAFF_SECURITY,
    responses={
        200: {"description": "The contact as it is now"},
        404: {"description": "No such contact"},
        409: {"description": "Changed since it was read (reload), or the new email belongs to another contact"},
        **_ERRORS,
    },
)
def edit_contact(contact_id: str, changes: Annotated[ContactChanges, Body()]) -> dict[str, Any]:
    given = changes.model_dump(include=changes.model_fields_set - {"version"})
    updated = contacts.edit_contact(contact_id, given, changes.version, request_language(router))
    return _view(updated)

"""Staff routes: who is signed in; the staff directory (managers read it, admins write and import it)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from closeloop.api.resolver import STAFF_SECURITY, current_identity, request_language
from closeloop.errors import InvalidInput
from closeloop.models import Staff
from closeloop.rules import staff_csv
from closeloop.services import directory
from closeloop.services.directory import whoami
from closeloop.settings import get_settings

router = Router()

_TEXT = 320
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel", "application/octet-stream")

_ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "Invalid input: the details say which field and why"},
    401: {"description": "Not signed in"},
    403: {"description": "Not in a group that may do this"},
}


class StaffIn(BaseModel):
    """A new staff member. Name and email are required; the email is their sign-in name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=_TEXT)
    email: str = Field(max_length=_TEXT, description="Unique; compared without case; the Cognito username.")
    phone: str | None = Field(default=None, max_length=40, description="Any usual form; stored as E.164.")
    language: str | None = Field(default=None, max_length=20, description="fr or en (default: the programme's).")
    department: str | None = Field(default=None, max_length=80, description="Stored as a slug (`service-client`).")
    groups: list[str] = Field(default_factory=list, description="caller, manager, admin (French names accepted).")
    active: bool = True
    capacity: int | None = Field(default=None, ge=0, le=staff_csv.MAX_CAPACITY, description="Open cases at most.")


class StaffChanges(BaseModel):
    """The fields to change (null clears phone or department), and the version that was read."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=0, description="The version read (or give it as If-Match): a change made since is a 409."
    )
    name: str | None = Field(default=None, max_length=_TEXT)
    email: str | None = Field(default=None, max_length=_TEXT)
    phone: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=20)
    department: str | None = Field(default=None, max_length=80)
    groups: list[str] | None = None
    active: bool | None = Field(default=None, description="false: a departure (sign-in disabled, cases reassigned).")
    capacity: int | None = Field(default=None, ge=0, le=staff_csv.MAX_CAPACITY)
    digest_opt_out: bool | None = None


def _answer(status: int, staff: Staff, **headers: str) -> Response[str]:
    body = directory.staff_view(staff)
    return Response(status, "application/json", json.dumps(body), headers={"ETag": f'"{body["version"]}"', **headers})


def _if_match(value: str | None) -> int | None:
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,12})"?\s*', value or "")
    return int(match.group(1)) if match else None


@router.get(
    "/me",
    summary="The signed-in staff member",
    description="The staff member of the directory behind the token, with the groups the token carries.",
    tags=["staff"],
    security=STAFF_SECURITY,
    responses={
        200: {"description": "The staff member"},
        401: {"description": "Not signed in"},
        403: {"description": "Not in the staff directory, or inactive"},
    },
)
def me() -> dict[str, Any]:
    return whoami(current_identity(router)).as_dict()


@router.get(
    "/directory",
    summary="List the staff directory",
    description="Every staff member (a few hundred), sorted by name, with the filters given. Managers and admins.",
    tags=["staff"],
    security=STAFF_SECURITY,
    responses={200: {"description": "The staff members"}, **_ERRORS},
)
def list_staff(
    *,
    active: Annotated[bool | None, Query()] = None,
    group: Annotated[str | None, Query(max_length=20)] = None,
    department: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    found = directory.list_staff(active=active, group=group, department=department)
    return {"staff": [directory.staff_view(staff) for staff in found]}


@router.get(
    "/directory/<staff_id>",
    summary="Show a staff member",
    description="The directory's record, with its version (also as ETag). Managers and admins.",
    tags=["staff"],
    security=STAFF_SECURITY,
    responses={200: {"description": "The staff member"}, 404: {"description": "No such staff member"}, **_ERRORS},
)
def show_staff(staff_id: str) -> Response[str]:
    return _answer(200, directory.get_staff(staff_id, request_language(router)))


@router.post(
    "/directory",
    summary="Add a staff member",
    description=(
        "Adds a staff member; their email (their sign-in name) must be no one else's. The sign-in "
        "account follows in the Cognito user pool (staff_sync). Admins only."
    ),
    tags=["staff"],
    security=STAFF_SECURITY,
    responses={
        201: {"description": "The staff member"},
        409: {"description": "A staff member already signs in with this email"},
        **_ERRORS,
    },
)
def add_staff(staff: Annotated[StaffIn, Body()]) -> Response[str]:
    language = request_language(router)
    values = staff.model_dump()
    values["language"] = values["language"] or get_settings().default_language
    created = directory.create_staff(values, language)
    return _answer(201, created, Location=f"/directory/{created.staff_id}")


@router.patch(
    "/directory/<staff_id>",
    summary="Edit, deactivate or reactivate a staff member",
    description=(
        "Changes the fields given. `version` (in the body, or as If-Match) is the version that was "
        "read: if someone changed the staff member since, the answer is 409 and nothing changes. "
        "`active: false` is a departure: sign-in disabled and open cases reassigned. Admins only."
    ),
    tags=["staff"],
    security=STAFF_SECURITY,
    responses={
        200: {"description": "The staff member as they are now"},
        404: {"description": "No such staff member"},
        409: {"description": "Changed since it was read (reload), or the new email is someone else's"},
        **_ERRORS,
    },
)
def edit_staff(staff_id: str, changes: Annotated[StaffChanges, Body()]) -> Response[str]:
    language = request_language(router)
    version = changes.version
    if version is None:
        version = _if_match(router.current_event.headers.get("if-match"))
    if version is None:
        raise InvalidInput(
            "give the version you read (body `version` or If-Match)"
            if language == "en"
            else "indiquez la version lue (champ `version` ou en-tête If-Match)"
        )
    given = changes.model_dump(include=changes.model_fields_set - {"version"})
    updated = directory.edit_staff(staff_id, given, version, language, editor=current_identity(router))
    return _answer(200, updated)


@router.post(
    "/directory/imports",
    summary="Import a staff CSV",
    description=(
        "The body is the CSV file itself (`Content-Type: text/csv`, or application/octet-stream for "
        "a file that is not UTF-8), at most 1 MB: columns name/nom (or prénom + nom), email/courriel "
        "(required), phone/téléphone, language/langue, department/département, groups/groupes, "
        "active/actif, capacity/capacité. Rows are upserted by email; the answer is the report "
        "(counts, each row's outcome, refused rows with line and reasons). Synchronous: a directory "
        "is a few hundred rows. Admins only."
    ),
    tags=["staff"],
    security=STAFF_SECURITY,
    responses={200: {"description": "The import report"}, **_ERRORS},
)
def import_staff() -> dict[str, Any]:
    language = request_language(router)
    event = router.current_event
    media = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in CSV_TYPES:
        raise InvalidInput(
            "send the CSV file itself as the body, with Content-Type: text/csv"
            if language == "en"
            else "envoyez le fichier CSV lui-même comme corps, avec Content-Type: text/csv"
        )
    raw = event.body or ""
    try:
        data = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidInput("the body is not valid base64") from None
    return directory.import_staff(data, language, default_language=get_settings().default_language)

"""Wave routes: create, list, show, edit, preview, test-send and cancel (staff read, managers act)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from closeloop import idempotency
from closeloop.api.resolver import STAFF_SECURITY, current_identity
from closeloop.models import Staff
from closeloop.services import waves

router = Router()


class TargetIn(BaseModel):
    """Who the wave goes to: segments and/or languages, or everyone."""

    model_config = ConfigDict(extra="forbid")

    segments: list[str] = Field(default_factory=list, max_length=50, description="Segment slugs; empty: all.")
    languages: list[str] = Field(default_factory=list, max_length=2, description="fr, en; empty: both.")
    everyone: bool = Field(default=False, description="Every contact (then no segment and no language).")


class TextsIn(BaseModel):
    """A text a manager writes in both languages (either may be left out)."""

    model_config = ConfigDict(extra="forbid")

    fr: str | None = Field(default=None, max_length=4000)
    en: str | None = Field(default=None, max_length=4000)


class WaveIn(BaseModel):
    """A new wave."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=400)
    target: TargetIn
    starts_at: AwareDatetime | None = Field(default=None, description="ISO time with its offset; default: now.")
    reminder_delay: timedelta | None = Field(
        default=None, description="ISO-8601 duration from the start to the reminder; default P7D."
    )
    closes_at: AwareDatetime | None = Field(default=None, description="Default: the start + 21 days.")
    subjects: TextsIn | None = Field(default=None, description="Subject lines; default in both languages.")
    intros: TextsIn | None = Field(default=None, description="Intro paragraph; default in both languages.")


class WaveChanges(BaseModel):
    """What to change in a planned wave, and the version that was read."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The wave's version when it was read: a change made since is a 409.")
    name: str | None = Field(default=None, max_length=400)
    subjects: TextsIn | None = None
    intros: TextsIn | None = None
    starts_at: AwareDatetime | None = Field(default=None, description="A new start (its schedules move with it).")
    reminder_delay: timedelta | None = Field(default=None, description="A new delay from the start to the reminder.")
    closes_at: AwareDatetime | None = Field(default=None, description="A new closing.")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The contact to render the email for; default: a sample made from the signed-in staff member.",
    )


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(max_length=320, description="A staff address of the directory (nothing else is accepted).")
    language: str = Field(default="fr", max_length=5, description="fr or en.")
    contact_id: str | None = Field(
        default=None, max_length=64, description="Render for this contact; default: a sample made from the staff."
    )


def _texts(value: TextsIn | None) -> dict[str, str] | None:
    return value.model_dump(exclude_none=True) if value is not None else None


def _responses(extra: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    common: dict[int, OpenAPIResponse] = {
        400: {"description": "Invalid input: the message says which rule and why"},
        401: {"description": "Not signed in"},
        403: {"description": "Not in a group that may do this"},
    }
    return {**extra, **common}


@router.post(
    "/waves",
    summary="Create a wave",
    description=(
        "Plans a wave: its target (segments, languages, or everyone), its start (default now), its "
        "reminder (default 7 days later) and its closing (default 21 days after the start), and its "
        "subject lines and intro in French and English. Three one-time schedules (start, reminder, "
        "closing) are created. 400 for a segment no contact is in, a start in the past, a closing "
        "before the start or a reminder after the closing. With an `Idempotency-Key` header, a retried "
        "request answers the wave it created (for 24 hours). Managers only."
    ),
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses({201: {"description": "The wave, planned"}, 503: {"description": "Scheduler down"}}),
)
def create_wave(wave: Annotated[WaveIn, Body()]) -> Response[str]:
    identity = current_identity(router)

    def create() -> dict[str, str]:
        staff = Staff.find_by_email(identity.email) if identity.email else None
        created = waves.create_wave(
            name=wave.name,
            segments=wave.target.segments,
            languages=wave.target.languages,
            everyone=wave.target.everyone,
            starts_at=wave.starts_at,
            reminder_delay=wave.reminder_delay,
            closes_at=wave.closes_at,
            subjects=_texts(wave.subjects),
            intros=_texts(wave.intros),
            created_by=staff.staff_id if staff else None,
        )
        return {"wave_id": created.wave_id}

    key = router.current_event.headers.get(idempotency.HEADER)
    wave_id = idempotency.once(
        key, caller=identity.subject, operation="create_wave", create=create, context=router.lambda_context
    )["wave_id"]
    body = json.dumps(waves.wave_view(waves.get_wave(wave_id)))
    return Response(201, "application/json", body, headers={"Location": f"/waves/{wave_id}"})


@router.get(
    "/waves",
    summary="List waves",
    description="Every wave, the latest start first, with its status and counts; `as_of`, the time of the answer.",
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "The waves"}}),
)
def list_waves() -> dict[str, Any]:
    return {"waves": [waves.wave_view(wave) for wave in waves.list_waves()], "as_of": waves.as_of()}


@router.get(
    "/waves/<wave_id>",
    summary="Show a wave",
    description=(
        "The wave, its status (planned, sending, sent, closed, cancelled) and its counts: targeted, "
        "skipped by reason (suppressed, pressure_gap, pressure_max), reserved, sent, failed, "
        "uncertain, delivered, bounced, complained, unsubscribed, reminded, responded; `as_of`, the time "
        "the counts were read."
    ),
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "The wave"}, 404: {"description": "No such wave"}}),
)
def show_wave(wave_id: str) -> dict[str, Any]:
    return {**waves.wave_view(waves.get_wave(wave_id)), "as_of": waves.as_of()}


@router.patch(
    "/waves/<wave_id>",
    summary="Edit or reschedule a planned wave",
    description=(
        "Changes the name, subject lines, intros, start, reminder delay or closing of a wave that has "
        "not started; new times move its schedules (what is not given keeps its value, the reminder "
        "its delay after the start) and follow the rules of a new wave (400 with the reason). "
        "`version` is the version read: if someone changed the wave since, or it started, the answer "
        "is 409. Managers only."
    ),
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses(
        {
            200: {"description": "The wave as it is now"},
            404: {"description": "No such wave"},
            409: {"description": "Changed since it was read (reload), or no longer planned"},
        }
    ),
)
def edit_wave(wave_id: str, changes: Annotated[WaveChanges, Body()]) -> dict[str, Any]:
    updated = waves.edit_wave(
        wave_id,
        version=changes.version,
        name=changes.name,
        subjects=_texts(changes.subjects),
        intros=_texts(changes.intros),
        starts_at=changes.starts_at,
        reminder_delay=changes.reminder_delay,
        closes_at=changes.closes_at,
    )
    return waves.wave_view(updated)


@router.post(
    "/waves/<wave_id>/preview",
    summary="Preview the wave's email for a contact",
    description=(
        "The email this contact would get, rendered in French and in English (without a contact: a sample "
        "contact made from the signed-in staff member). Nothing is stored or sent."
    ),
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "The email in both languages"}, 404: {"description": "No such wave"}}),
)
def preview_wave(wave_id: str, preview: Annotated[PreviewIn, Body()]) -> dict[str, Any]:
    return waves.preview_wave(wave_id, preview.contact_id, by=current_identity(router))


@router.post(
    "/waves/<wave_id>/test-send",
    summary="Send a test of the wave's email to a staff address",
    description=(
        "Sends the email, marked [TEST] / [ESSAI], to an address of the staff directory only. It is no "
        "survey: no invitation, and it never counts for survey pressure. Managers only."
    ),
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses(
        {
            200: {"description": "Sent"},
            404: {"description": "No such wave or contact"},
            503: {"description": "The email service did not take it"},
        }
    ),
)
def send_test(wave_id: str, request: Annotated[TestSendIn, Body()]) -> dict[str, Any]:
    return waves.send_test_email(
        wave_id,
        to=request.to,
        language=request.language,
        contact_id=request.contact_id,
        by=current_identity(router),
    )


@router.post(
    "/waves/<wave_id>/cancel",
    summary="Cancel a wave",
    description=(
        "Cancels a planned or sending wave: its schedules are deleted, invitations not yet sent are "
        "never sent and their survey-pressure claims are given back. Managers only."
    ),
    tags=["waves"],
    security=STAFF_SECURITY,
    responses=_responses(
        {
            200: {"description": "The wave, cancelled"},
            404: {"description": "No such wave"},
            409: {"description": "The wave is sent, closed or already over"},
        }
    ),
)
def cancel_wave(wave_id: str) -> dict[str, Any]:
    return waves.wave_view(waves.cancel_wave(wave_id))

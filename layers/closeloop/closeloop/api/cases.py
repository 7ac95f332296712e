"""Case routes (F5, docs/callbacks.md "The staff API"): a caller's queue, a case's detail, logging a
call attempt, handing a case back; managers' lists and reassignment; the irritant taxonomy. Errors
come in the reader's language (`request_language`: Accept-Language, the token's locale, the
programme's)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from closeloop import clock, idempotency
from closeloop.api.resolver import STAFF_SECURITY, current_identity, request_language
from closeloop.errors import InvalidInput
from closeloop.rules.attempts import NOTES_MAX, AttemptInput
from closeloop.services import callbacks, taxonomy

router = Router()

Outcome = Literal["reached", "no_answer", "voicemail", "wrong_number", "declined"]
Promise = Literal["none", "solution_now", "improvement_loop"]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]


class AttemptIn(BaseModel):
    """One call attempt, as the caller logs it."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome = Field(description="What happened: reached, no_answer, voicemail, wrong_number, declined.")
    notes: str | None = Field(default=None, max_length=NOTES_MAX, description="What was said (5,000 characters).")
    tags: list[Slug] = Field(default_factory=list, max_length=5, description="Irritant tags of the taxonomy.")
    confirmed_score: int | None = Field(
        default=None, ge=0, le=10, description="The score as the customer confirms or corrects it on the phone."
    )
    promise: Promise | None = Field(
        default=None,
        description=(
            "What was promised: none, solution_now (the answer was given on the call) or improvement_loop "
            "(the problem goes into the improvement plan; the case waits for the second exchange). "
            "Required when a call on an open case reached the customer."
        ),
    )
    wants_follow_up: bool | None = Field(default=None, description="The customer wants to hear back.")
    second_exchange: bool = Field(default=False, description="This call delivered the promised answer.")


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The case's version when it was read: a change made since is a 409.")


class ReassignIn(BaseModel):
    """Who takes the case: an active caller, by staff id or by email."""

    model_config = ConfigDict(extra="forbid")

    to_staff_id: str | None = Field(default=None, max_length=64)
    to_email: str | None = Field(default=None, max_length=320)
    version: int = Field(ge=0, description="The case's version when it was read: a change made since is a 409.")


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: Slug = Field(description="Slug: 1 to 40 of a-z, 0-9, _ and -. It never changes.")
    label_fr: str = Field(min_length=1, max_length=80)
    label_en: str = Field(min_length=1, max_length=80)
    department: Slug | None = Field(default=None, description="The department that owns this irritant.")


class TagChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The tag's version when it was read: a change made since is a 409.")
    label_fr: str | None = Field(default=None, min_length=1, max_length=80)
    label_en: str | None = Field(default=None, min_length=1, max_length=80)
    department: str | None = Field(default=None, max_length=40, description='A slug; "" removes it.')
    active: bool | None = Field(default=None, description="false: no longer offered (a tag is never deleted).")


def _responses(extra: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    common: dict[int, OpenAPIResponse] = {
        400: {"description": "Invalid input: the message says which rule and why"},
        401: {"description": "Not signed in"},
        403: {"description": "Not in a group that may do this, or not this case's assignee"},
    }
    return {**extra, **common}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status, "application/json", json.dumps(body), headers=headers or {})


@router.get(
    "/cases/mine",
    summary="My queue",
    description=(
        "The signed-in caller's cases that are not closed: overdue first, then by due date, each with "
        "its category, score, whether the score is confirmed, its due time, `overdue`, and the "
        "customer's name and company; `as_of`, the time the due dates are measured against."
    ),
    tags=["cases"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "The queue"}}),
)
def my_queue() -> dict[str, Any]:
    return callbacks.my_queue(current_identity(router), request_language(router))


@router.get(
    "/cases",
    summary="List cases",
    description=(
        "Cases of one status (default open) by due date, filtered by category, overdue (open, no first "
        "exchange, past due), assignee (a staff id, or `none`), wave, unconfirmed score. A page of "
        "`limit` cases and `next_cursor` for the next page, and `as_of`, the time `overdue` is measured "
        "against. Managers only."
    ),
    tags=["cases"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "A page of cases"}}),
)
def list_cases(
    *,
    status: Annotated[Literal["open", "awaiting_second", "closed"] | None, Query()] = None,
    category: Annotated[Literal["detractor", "passive", "promoter"] | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    wave: Annotated[str | None, Query(max_length=64)] = None,
    unconfirmed: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    return callbacks.list_cases(
        status=status,
        category=category,
        overdue=overdue,
        assignee=assignee,
        wave=wave,
        unconfirmed=unconfirmed,
        limit=limit,
        cursor=cursor,
        reader=request_language(router),
    )


@router.get(
    "/cases/<case_id>",
    summary="Show a case",
    description=(
        "The customer (name, company, phone, email, language), their answer (score, comment, confirmed), "
        "the mail of the thread (replies, case emails), the attempts, the call script for the category "
        "in the customer's language (`lang` for the other one), the history and the version to send "
        "back with a change, and `as_of`, the time `overdue` is measured against. Its assignee and the "
        "managers only."
    ),
    tags=["cases"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "The case"}, 404: {"description": "No such case"}}),
)
def show_case(case_id: str, lang: Annotated[Literal["fr", "en"] | None, Query()] = None) -> dict[str, Any]:
    return callbacks.show_case(case_id, current_identity(router), language=lang, reader=request_language(router))


@router.post(
    "/cases/<case_id>/attempts",
    summary="Log a call attempt",
    description=(
        "Records one call: its outcome, notes, irritant tags (active tags of the taxonomy, 5 per case at "
        "most), the score the customer confirmed or corrected, what was promised, whether they want to "
        "hear back, whether this call delivered the promised answer. The first attempt closes the "
        "response to the customer's edits. Attempts are append-only: two people logging at once both "
        "land. The `Idempotency-Key` header is required (any value unique to this call, sent again "
        "with a retry): a retried request logs once (24 hours), so an unanswered call counted twice "
        "never sends the fallback email early. The case's assignee and the managers."
    ),
    tags=["cases"],
    security=STAFF_SECURITY,
    responses=_responses(
        {
            201: {"description": "The attempt and the case as it is now"},
            404: {"description": "No such case"},
            409: {"description": "The case is closed, or changed meanwhile (reload)"},
            503: {"description": "Not saved: try again"},
        }
    ),
)
def log_attempt(case_id: str, attempt: Annotated[AttemptIn, Body()]) -> Response[str]:
    identity = current_identity(router)
    reader = request_language(router)
    caller = callbacks.caller_of(identity, reader)
    callbacks.check_may_log(case_id, caller, reader)

    made: list[callbacks.Logged] = []

    def create() -> dict[str, str]:
        logged = callbacks.log_attempt(
            case_id,
            staff_id=caller.staff_id,
            attempt=AttemptInput(
                outcome=attempt.outcome,
                notes=attempt.notes,
                tags=frozenset(attempt.tags),
                confirmed_score=attempt.confirmed_score,
                promise=attempt.promise,
                wants_follow_up=attempt.wants_follow_up,
                second_exchange=attempt.second_exchange,
            ),
            reader=reader,
        )
        made.append(logged)
        return {"attempt_key": logged.attempt.attempt_key}

    key = router.current_event.headers.get(idempotency.HEADER)
    if not key:
        raise InvalidInput(
            "l'en-tête Idempotency-Key est requis : une valeur propre à cet appel, renvoyée telle quelle si "
            "vous réessayez"
            if reader == "fr"
            else "an Idempotency-Key header is required: a value unique to this call, sent again if you retry it"
        )
    attempt_key = idempotency.once(
        key, caller=identity.subject, operation=f"log_attempt#{case_id}", create=create, context=router.lambda_context
    )["attempt_key"]
    if made:  # logged by this call: the service read the case after its write
        record, case = made[0].attempt, made[0].case
    else:  # a retried call: the attempt logged the first time, and the case as it is now
        record = callbacks.get_attempt(case_id, attempt_key, reader)
        case = callbacks.get_case(case_id, consistent=True, reader=reader)
    body = {"attempt": callbacks.attempt_view(record), "case": callbacks.case_view(case, clock.now())}
    return _json(201, body, {"Location": f"/cases/{case_id}"})


@router.post(
    "/cases/<case_id>/hand-back",
    summary="Hand a case back",
    description=(
        "The assignee gives the case back: it goes to the customer's account owner or to the least "
        "loaded other caller. 409 when the case changed since it was read (reload), is closed, or no "
        "other caller can take it."
    ),
    tags=["cases"],
    security=STAFF_SECURITY,
    responses=_responses(
        {
            200: {"description": "The case, with its new assignee"},
            404: {"description": "No such case"},
            409: {"description": "Changed since read, or closed"},
        }
    ),
)
def hand_back(case_id: str, request: Annotated[VersionIn, Body()]) -> dict[str, Any]:
    moved = callbacks.hand_back(
        case_id, current_identity(router), version=request.version, reader=request_language(router)
    )
    return callbacks.case_view(moved, clock.now())


@router.post(
    "/cases/<case_id>/reassign",
    summary="Reassign a case",
    description=(
        "Gives the case to an active caller (`to_staff_id` or `to_email`). 409 when the case changed "
        "since it was read (reload) or is closed. Managers only."
    ),
    tags=["cases"],
    security=STAFF_SECURITY,
    responses=_responses(
        {
            200: {"description": "The case, with its new assignee"},
            404: {"description": "No such case"},
            409: {"description": "Changed since read, or closed"},
        }
    ),
)
def reassign(case_id: str, request: Annotated[ReassignIn, Body()]) -> dict[str, Any]:
    moved = callbacks.reassign(
        case_id,
        to_staff_id=request.to_staff_id,
        to_email=request.to_email,
        version=request.version,
        reader=request_language(router),
    )
    return callbacks.case_view(moved, clock.now())


@router.get(
    "/taxonomy",
    summary="The irritant taxonomy",
    description=(
        "Every irritant tag with its labels in French and English, its department, whether it is in use "
        "and its version, read afresh (a tag just added or changed elsewhere is listed at once)."
    ),
    tags=["taxonomy"],
    security=STAFF_SECURITY,
    responses=_responses({200: {"description": "The tags, by slug"}}),
)
def list_tags() -> dict[str, Any]:
    tags = taxonomy.all_tags(fresh=True)
    return {"tags": [taxonomy.tag_view(tags[tag]) for tag in sorted(tags)]}


@router.post(
    "/taxonomy",
    summary="Add an irritant tag",
    description="A new tag (slug, labels in French and English, department). 409 when the slug exists. Managers only.",
    tags=["taxonomy"],
    security=STAFF_SECURITY,
    responses=_responses({201: {"description": "The tag"}, 409: {"description": "The tag exists"}}),
)
def add_tag(tag: Annotated[TagIn, Body()]) -> Response[str]:
    added = taxonomy.add_tag(
        tag=tag.tag,
        label_fr=tag.label_fr,
        label_en=tag.label_en,
        department=tag.department,
        reader=request_language(router),
    )
    return _json(201, taxonomy.tag_view(added), {"Location": f"/taxonomy/{added.tag}"})


@router.patch(
    "/taxonomy/<tag>",
    summary="Edit an irritant tag",
    description=(
        "Changes labels or department, or deactivates (`active: false`) a tag, never deleting it. 409 "
        "when it changed since it was read. Managers only."
    ),
    tags=["taxonomy"],
    security=STAFF_SECURITY,
    responses=_responses(
        {200: {"description": "The tag"}, 404: {"description": "No such tag"}, 409: {"description": "Reload"}}
    ),
)
def edit_tag(tag: str, changes: Annotated[TagChanges, Body()]) -> dict[str, Any]:
    edited = taxonomy.edit_tag(
        tag,
        version=changes.version,
        label_fr=changes.label_fr,
        label_en=changes.label_en,
        department=changes.department,
        active=changes.active,
        reader=request_language(router),
    )
    return taxonomy.tag_view(edited)

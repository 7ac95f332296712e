"""Quarantine routes: inbound mail that was not processed, and why (managers only)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from closeloop.api.resolver import STAFF_SECURITY, current_identity, request_language
from closeloop.models import Staff
from closeloop.services import quarantine

router = Router()

_ERRORS: dict[int, OpenAPIResponse] = {401: {"description": "Not signed in"}, 403: {"description": "Managers only"}}


@router.get(
    "/quarantine",
    summary="Quarantined mail of a month",
    description=(
        "Mail to the reply domain that was not processed, newest first, 50 a page (pass `next` back): "
        "its id (the SES message id), when it came, why (`spam`, `virus`, `no_token`, `unknown_token`, "
        "`expired_token`, `unparseable`, `too_large`, with a text in the reader's language), its sender "
        "and subject, its size, and whether someone handled it. Kept 30 days. Managers only."
    ),
    tags=["mail"],
    security=STAFF_SECURITY,
    responses={
        200: {"description": "A page of quarantined mail"},
        400: {"description": "Not a month (YYYY-MM), or not a cursor of this list"},
        **_ERRORS,
    },
)
def list_quarantine(
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default this month")] = None,
    next: Annotated[str | None, Query(max_length=600, description="The `next` of the previous page")] = None,  # noqa: A002
) -> dict[str, Any]:
    return quarantine.list_quarantine(month, cursor=next, language=request_language(router))


@router.post(
    "/quarantine/<quarantine_id>/handled",
    summary="Mark a quarantined mail handled",
    description=(
        "Records that you looked at this mail. Once only: marked by someone else already is a 409 "
        "(who and when in `details`); the same request again answers the same. Managers only."
    ),
    tags=["mail"],
    security=STAFF_SECURITY,
    responses={
        200: {"description": "The quarantined mail, handled"},
        404: {"description": "No such quarantined mail"},
        409: {"description": "Handled by someone else already"},
        **_ERRORS,
    },
)
def mark_handled(quarantine_id: str) -> dict[str, Any]:
    identity = current_identity(router)
    staff = Staff.find_by_email(identity.email) if identity.email else None
    by = staff.staff_id if staff else identity.subject
    return quarantine.mark_handled(quarantine_id, by=by, language=request_language(router))

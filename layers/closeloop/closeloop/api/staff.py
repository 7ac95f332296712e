"""Staff routes: who is signed in (later: callers' queues and managers' tools)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from closeloop.api.resolver import STAFF_SECURITY, current_identity
from closeloop.services.directory import whoami

router = Router()


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

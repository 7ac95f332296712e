"""Response routes: a response with the mail of its thread (callers and managers)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from closeloop.api.resolver import STAFF_SECURITY
from closeloop.services import threads

router = Router()


@router.get(
    "/responses/<response_id>",
    summary="Show a response and its mail",
    description=(
        "The customer's answer (score, category, confirmed, comment, when) and every mail of the "
        "survey's thread, oldest first: replies with their new text (quoted history and signatures "
        "removed), attachment names and flags (`unsubscribe_mention`, `forwarded`), auto-replies, "
        "unsubscribe requests. `response` is null when the customer replied without answering. "
        "The response id is the invitation id."
    ),
    tags=["responses"],
    security=STAFF_SECURITY,
    responses={
        200: {"description": "The response and its thread"},
        401: {"description": "Not signed in"},
        403: {"description": "Not in a staff group"},
        404: {"description": "No such response"},
    },
)
def show_response(response_id: str) -> dict[str, Any]:
    return threads.show_response(response_id)

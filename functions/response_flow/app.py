"""Responses stream: ResponseCaptured and ResponseChanged on the event bus (docs/data-model.md 8.2)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.response_flow import process_response_flow


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_response_flow(event, context)

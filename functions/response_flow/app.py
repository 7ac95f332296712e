"""Responses stream: the callback case of each response, and ResponseCaptured / ResponseChanged on the bus."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.response_flow import process_response_flow


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_response_flow(event, context)

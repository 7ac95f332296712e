"""Messages stream (customer replies): CustomerReplied on the bus (docs/data-model.md 8.2)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.message_flow import process_message_flow


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_message_flow(event, context)

"""Cases stream: the emails a change makes due (to the mail queue) and the case events (on the bus)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.case_flow import process_case_flow


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_case_flow(event, context)

"""Staff stream: each change of the directory pushed to the Cognito user pool (user, groups,
enabled), open cases reassigned on a departure, StaffChanged on the bus (docs/callbacks.md)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.staff_sync import process_staff_sync


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_staff_sync(event, context)

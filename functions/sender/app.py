"""Send queue: each message is one attempt of one batch of survey emails, sent at most once."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.sending import process_send_queue


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_send_queue(event, context)

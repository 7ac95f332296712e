"""Mail queue: case and staff emails, each sent at most once (docs/callbacks.md "Case and staff emails")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.mailer import process_mail_queue


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_mail_queue(event, context)

"""SES events of the sending configuration set (EventBridge, one event per invocation, retried by
Lambda when it fails): bounces and complaints suppress, deliveries mark invitations delivered, and
uncertain sends are settled (docs/inbound-mail.md "SES events")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.ses_events import handle_ses_event


@instrument
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, str]:
    return {"outcome": handle_ses_event(event)}

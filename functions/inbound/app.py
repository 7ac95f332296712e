"""SES receipt rule (Lambda action, after the S3 action): each mail to the reply domain processed."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.inbound import receive_mail


@instrument
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    return {"outcomes": [receive_mail(record) for record in records or [{}]]}

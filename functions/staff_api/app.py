"""HTTP API: the staff routes (behind the Cognito JWT authorizer and the group checks): who is
signed in, and the staff directory."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import staff
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(staff.router, enable_validation=True)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

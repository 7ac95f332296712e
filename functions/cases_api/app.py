"""HTTP API: callers' queues, case detail, call attempts, hand back; managers' lists, reassignment and
the irritant taxonomy, behind the staff authorizer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import cases
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(cases.router, enable_validation=True)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

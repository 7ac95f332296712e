"""HTTP API: quarantined inbound mail (list a month, mark handled), managers only."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import quarantine
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(quarantine.router, enable_validation=True)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

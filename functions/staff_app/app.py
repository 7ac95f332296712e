"""HTTP API: the staff pages - one static page and its assets, which sign in through the hosted UI
and call the staff API with the token (no state here, no table)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import staff_app
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(staff_app.router)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

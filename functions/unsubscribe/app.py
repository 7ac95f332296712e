"""HTTP API: the unsubscribe page of survey emails, its POST (and RFC 8058 one-click), and the undo."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import unsubscribe
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(unsubscribe.router)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""HTTP API: health, the OpenAPI document, the API documentation page."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import platform
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(platform.router)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

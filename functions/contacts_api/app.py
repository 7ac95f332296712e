"""HTTP API: contacts (add, edit, show, list, search) and contact imports (upload URL, report)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import contacts, imports
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(contacts.router, imports.router, enable_validation=True)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

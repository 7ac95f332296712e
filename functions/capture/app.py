"""HTTP API: the survey pages of the email's score links and their Send button (public)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.api import survey
from closeloop.api.resolver import build_resolver
from closeloop.observability import instrument

app = build_resolver(survey.router)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

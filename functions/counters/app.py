"""Stream counters: each Responses, Invitations or Cases record moves its Stats items, its wave's
counts and (cases) the assignee's `open_cases`, exactly once (docs/data-model.md 9.3)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.counters import process_counters_stream


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_counters_stream(event, context)

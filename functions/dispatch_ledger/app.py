"""SendBatches stream: send outcomes copied onto invitations and wave counts, exactly once."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.dispatch_ledger import process_ledger_stream


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_ledger_stream(event, context)

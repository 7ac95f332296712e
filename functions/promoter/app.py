"""Every 5 minutes: clicks never confirmed, past their delay, judged; a person's becomes an
unconfirmed response, a scanner's nothing (docs/capture.md "Scanners and unconfirmed responses")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.promotion import promote_clicks


@instrument
def lambda_handler(_event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    run = promote_clicks(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    return {"decided": run.decided, "promoted": run.promoted, "waiting": run.waiting}

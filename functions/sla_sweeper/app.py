"""Every 5 minutes: the SLA steps that have come fired, once each (docs/callbacks.md "SLA timers")."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.sla_sweeper import sweep


@instrument
def lambda_handler(_event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    run = sweep(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    return {"fired": run.fired, "skipped": run.skipped}

"""Nightly (and on demand): the counters (`nps`, `mail`, the cases' and the staff members'
`open_cases`) recounted from the Responses, Invitations and Cases items; a lasting difference is
logged and counted in `stats_differences`, which an alarm watches (docs/data-model.md 9.6).
Writes nothing."""

import math
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import MetricUnit, instrument, logger, metrics
from closeloop.services.stats import Difference, audit_counters

LOGGED = 100  # differences logged and returned one by one; the count covers them all
DEFAULT_PAUSE, LONGEST_PAUSE = 60.0, 300.0


def _row(difference: Difference) -> dict[str, str]:
    target = difference.target
    return {
        "table": target.table,
        "key": target.key,
        "metric": target.metric,
        "attribute": difference.attribute,
        "expected": str(difference.expected),
        "found": str(difference.found),
    }


def _pause(event: Any) -> float:
    """`pause_seconds` of an on-demand invocation, within 0-300; the schedule's default else."""
    try:
        asked = float(event.get("pause_seconds", DEFAULT_PAUSE)) if isinstance(event, dict) else DEFAULT_PAUSE
    except (TypeError, ValueError):
        asked = DEFAULT_PAUSE
    return max(0.0, min(asked, LONGEST_PAUSE)) if not math.isnan(asked) else DEFAULT_PAUSE


@instrument
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    audit = audit_counters(pause=_pause(event))
    metrics.add_metric(name="stats_differences", unit=MetricUnit.Count, value=len(audit.differences))
    rows = [_row(difference) for difference in audit.differences[:LOGGED]]
    for row in rows:
        logger.error("counter differs from the recount", extra=row)
    settled = audit.first_seen - len(audit.differences)
    logger.info("counters audited", extra={"differences": len(audit.differences), "settled_meanwhile": settled})
    return {"differences": len(audit.differences), "settled_meanwhile": settled, "first": rows}

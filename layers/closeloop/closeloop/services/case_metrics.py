"""The callbacks' CloudWatch metrics, by category (docs/callbacks.md "Counters and alarms").

- `publish_backlog_metrics()`, called once per run by the SLA sweeper (every 5 minutes): one
  GetItem of the Stats item `all` / `cases` (kept by the counters from the Cases stream), then the
  gauges `cases_open` (cases not closed) and `cases_overdue` (breached, no first exchange, not
  closed) for each category, zeros included, so that the series never has gaps while the sweeper
  runs. The `detractor-cases-overdue` alarm watches `cases_overdue` with category = detractor, and
  the `sla-sweeper-silent` alarm the absence of that series.
- `publish_observations(...)`, called by the counters for the Cases records they applied:
  `cases_opened` (1 per case) and `first_exchange_delay_bh` (one value per first exchange, so that
  CloudWatch gives its percentiles), by category.

Every metric carries the dimensions `service` and `category` (detractor, passive, promoter); the
function's own metrics (`metrics`) keep `service` alone, so these go out in EMF documents of their
own, one per category.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from aws_lambda_powertools.metrics import EphemeralMetrics

from closeloop.models import Stat
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.rules.nps import CATEGORIES
from closeloop.rules.nps_counters import CATEGORY_CODES

ALL_SCOPE, CASES_METRIC = "all", "cases"
UNITS = {
    "cases_opened": MetricUnit.Count,
    "cases_open": MetricUnit.Count,
    "cases_overdue": MetricUnit.Count,
    "first_exchange_delay_bh": MetricUnit.NoUnit,  # business hours: CloudWatch has no such unit
}


def _emit(category: str, values: Iterable[tuple[str, float]]) -> None:
    """One EMF document with the dimension category = `category` (and the service's)."""
    document = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
    document.add_dimension(name="category", value=category)
    for name, value in values:
        document.add_metric(name=name, unit=UNITS.get(name, MetricUnit.Count), value=value)
    if document.metric_set:
        document.flush_metrics()


def publish_observations(observations: Iterable[tuple[str, str, Decimal]]) -> None:
    """Emit (name, category, value) metrics, one document per category."""
    by_category: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for name, category, value in observations:
        if category in CATEGORIES:
            by_category[category].append((name, float(value)))
    for category in sorted(by_category):
        _emit(category, by_category[category])


def backlog(item: Mapping[str, object]) -> dict[str, tuple[int, int]]:
    """(open, overdue) per category from a Stats `cases` item's attributes (0 when absent)."""

    def count(name: str) -> int:
        try:
            return max(int(Decimal(str(item.get(name, 0)))), 0)
        except (InvalidOperation, ValueError):
            return 0

    return {category: (count(f"open_{code}"), count(f"overdue_{code}")) for category, code in CATEGORY_CODES.items()}


def read_backlog() -> dict[str, tuple[int, int]]:
    """The programme's open and overdue cases per category, from Stats (`all`, `cases`)."""
    raw = Stat._get_connection().get_item(ALL_SCOPE, range_key=CASES_METRIC).get("Item") or {}
    return backlog({name: value["N"] for name, value in raw.items() if "N" in value})


def publish_backlog_metrics() -> None:
    """Emit the gauges `cases_open` and `cases_overdue` per category (zeros too)."""
    found = read_backlog()
    for category in CATEGORIES:
        opened, overdue = found[category]
        _emit(category, [("cases_open", opened), ("cases_overdue", overdue)])
    logger.debug("backlog metrics published", extra={"backlog": found})

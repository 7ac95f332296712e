"""The SLA timers (DESIGN F7; docs/data-model.md 7.3; docs/callbacks.md "SLA timers"): every 5
minutes, each case whose pending step has come fires it, once.

A pending step is data on the case: `timer_shard`, `next_timer_at`, `next_timer_step`, in the
sparse index `by_timer`. The sweep queries the 10 shards for `next_timer_at <= now` (10 queries
when nothing is due) and fires each step with one conditional update: `last_timer` records the
step, the next step takes its place, `breached_at` is set on the first escalation (a sweep that
finds several steps due, after an outage, fires the latest one only). The condition
(`next_timer_at` and `next_timer_step` as read) lets exactly one writer fire a step: a second
sweep, a retry, or a first exchange that removed the timer meanwhile makes it fail, and the step
is skipped. The Cases stream sees `last_timer` change and case_flow enqueues the email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import UpdateError

from closeloop import clock
from closeloop.models import Case
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.rules.case_events import stored_time
from closeloop.rules.sla import ESCALATE, TIMER_SHARDS, next_timer
from closeloop.services.case_metrics import publish_backlog_metrics

CONDITION_FAILED = "ConditionalCheckFailedException"
MAX_STEPS = 10_000
"""A bound on the steps passed over at once (27 years of daily escalations)."""


@dataclass
class SweepResult:
    fired: int = 0
    skipped: int = 0
    queries: int = 0


def latest_due(step: str, at: datetime, due_at: datetime, now: datetime) -> tuple[str, datetime, int]:
    """The last step due by `now`, starting from the pending one, and how many were passed over.

    A sweep runs every 5 minutes, so this is the pending step itself; after an outage, or for a
    case seeded in the past, the steps missed are not sent one after the other (ten escalations
    at once): the latest one fires, and says how many days the case is overdue."""
    passed = 0
    for _ in range(MAX_STEPS):
        following, following_at = next_timer(step, at, due_at)
        if following_at > now:
            break
        step, at, passed = following, following_at, passed + 1
    return step, at, passed


def fire_step(
    case_id: str, step: str, at: datetime, due_at: datetime, *, now: datetime | None = None
) -> tuple[str, datetime] | None:
    """Fire the case's pending step (`step` at `at`, as read), if it is still the pending one: the
    latest step due by `now` is recorded as fired and the one after it takes its place. The step
    that now waits, or None when someone else fired it or the timer is gone."""
    moment = now or clock.now()
    fired, fired_at, passed = latest_due(step, at, due_at, moment)
    following, following_at = next_timer(fired, fired_at, due_at)
    actions = [
        Case.last_timer.set(f"{fired}@{stored_time(fired_at)}"),
        Case.next_timer_step.set(following),
        Case.next_timer_at.set(following_at),
        Case.updated_at.set(clock.now()),
        Case.version.add(1),
    ]
    cid = correlation_id()
    if cid:
        actions.append(Case.correlation_id.set(cid))
    if fired.startswith(f"{ESCALATE}#"):
        actions.append(Case.breached_at.set(Case.breached_at | due_at))  # escalate#1 falls at due_at
    condition = (
        (Case.next_timer_at == at)
        & (Case.next_timer_step == step)
        & Case.timer_shard.exists()
        & Case.first_exchange_at.does_not_exist()
    )
    try:
        Case._get_connection().update_item(case_id, actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
        return None
    if passed:
        metrics.add_metric(name="sla_steps_passed_over", unit=MetricUnit.Count, value=passed)
        logger.warning("SLA steps passed over: the latest fired", extra={"case_id": case_id, "passed": passed})
    return following, following_at


def sweep(*, time_left: Callable[[], float] | None = None) -> SweepResult:
    """Fire every step that has come, shard by shard; then the backlog gauges."""
    now = clock.now()
    result = SweepResult()
    for shard in range(TIMER_SHARDS):
        if time_left is not None and time_left() < 5:
            logger.warning("out of time: the next sweep goes on", extra={"shard": shard})
            break
        result.queries += 1
        for item in Case.by_timer.query(str(shard), Case.next_timer_at <= now):
            if item.next_timer_step is None or item.next_timer_at is None or item.due_at is None:
                continue
            fired = fire_step(str(item.case_id), str(item.next_timer_step), item.next_timer_at, item.due_at, now=now)
            if fired is None:
                result.skipped += 1
                continue
            result.fired += 1
            logger.info("SLA step fired", extra={"case_id": item.case_id, "step": item.next_timer_step})
    if result.fired:
        metrics.add_metric(name="sla_steps_fired", unit=MetricUnit.Count, value=result.fired)
    publish_backlog_metrics()
    return result

"""Helpers of the tests of the case counters: staff members, cases written as their writers leave
them (opening, attempts, exchanges, the sweeper's breach, closing), the Cases stream handed to the
counters function as Lambda would (retrying from the first failure it reports), and the EMF
metrics printed, by name and category."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from closeloop.ids import new_id
from closeloop.models import Case, Staff, Stat
from closeloop.rules.case_counters import CASES_METRIC
from closeloop.settings import get_settings
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_handler

counters_handler = load_handler("counters")
RESPONDED = datetime.fromisoformat("2027-03-01T10:00:00+00:00")
DUE = {"detractor": RESPONDED + timedelta(days=2), "passive": RESPONDED + timedelta(days=14)}
DUE["promoter"] = DUE["passive"]
SCORES = {"detractor": 3, "passive": 8, "promoter": 10}


def cases_stream(*, from_start: bool = False) -> TableStream:
    return TableStream(get_settings().cases_table, from_start=from_start)


def add_staff(name: str = "Claire Dubois") -> Staff:
    staff = Staff(new_id(), email=f"{new_id().lower()}@orvalis.example", name=name, groups={"caller"}, pool="caller")
    staff.save()
    return staff


def open_case(
    *,
    assignee_id: str | None,
    category: str = "detractor",
    wave_id: str = "01JWAVE0000000000000000000",
    segment: str = "pharmacy",
    language: str = "fr",
    month: str = "2027-03",
    confirmed: bool = True,
    has_phone: bool = True,
) -> Case:
    """A case as response_flow opens it (data-model 4.15)."""
    due = DUE[category]
    case = Case(
        new_id(),
        contact_id=new_id(),
        wave_id=wave_id,
        segment=segment,
        language=language,
        month=month,
        score=SCORES[category],
        category=category,
        confirmed=confirmed,
        responded_at=RESPONDED,
        opened_at=RESPONDED + timedelta(seconds=2),
        due_at=due,
        script=f"{category}.{language}",
        assignee_id=assignee_id,
        assigned_at=RESPONDED + timedelta(seconds=2) if assignee_id else None,
        assignment="owner" if assignee_id else None,
        queue_due_at=due,
        status="open",
        has_phone=has_phone,
        timer_shard="3",
        next_timer_at=due - timedelta(hours=6),
        next_timer_step="remind",
    )
    case.save()
    return case


def first_exchange(case: Case, at: datetime, kind: str = "call", tags: set[str] | None = None) -> None:
    """What logging a `reached` attempt (or attaching a reply) writes on the case (7.4)."""
    hours = round((at - case.responded_at).total_seconds() / 3600, 2)
    actions = [
        Case.first_exchange_at.set(Case.first_exchange_at | at),
        Case.first_exchange_kind.set(Case.first_exchange_kind | kind),
        Case.first_delay_h.set(Case.first_delay_h | hours),
        Case.first_delay_bh.set(Case.first_delay_bh | round(hours * 9 / 24, 2)),  # a stand-in for business hours
        Case.timer_shard.remove(),
        Case.next_timer_at.remove(),
        Case.next_timer_step.remove(),
    ]
    if kind == "call":
        actions.append(Case.attempt_count.add(1))
    else:
        actions.append(Case.reply_count.add(1))
    if tags:
        actions.append(Case.tags.add(tags))
    case.update(actions=actions, add_version_condition=False)


def apply_counters(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The counters function invoked by the Cases mapping with these records."""
    if not records:
        return {"batchItemFailures": []}
    result: dict[str, Any] = counters_handler({"Records": records}, LambdaContext())
    return result


def deliver(records: list[dict[str, Any]], *, bisect: bool = False) -> int:
    """Hand records over as the Lambda mapping does: with `bisect`, the first half is applied then
    the whole batch again (a batch split after an error); then the batch, retried from the first
    record it reports failed until none is. Returns the number of invocations."""
    invocations = 0
    if bisect and len(records) > 1:
        apply_counters(records[: len(records) // 2])
        invocations += 1
    pending = records
    while pending:
        invocations += 1
        failures = [failure["itemIdentifier"] for failure in apply_counters(pending)["batchItemFailures"]]
        if not failures:
            return invocations
        numbers = [record["dynamodb"]["SequenceNumber"] for record in pending]
        pending = pending[numbers.index(failures[0]) :]
        assert invocations < 50, "the counters never got through"
    return invocations


def stats_item(scope: str, metric: str = CASES_METRIC) -> dict[str, Any]:
    """A Stats item's numbers as a report reads them (int or float), {} when absent."""
    raw = Stat._get_connection().get_item(scope, range_key=metric, consistent_read=True).get("Item") or {}
    return {name: json.loads(value["N"]) for name, value in raw.items() if "N" in value and name != "expires_at"}


def open_cases_of(staff: Staff) -> int:
    staff.refresh(consistent_read=True)
    return int(staff.open_cases or 0)


def metric_values(output: str) -> dict[tuple[str, str], list[float]]:
    """The metrics of the EMF documents printed, by (name, category dimension or "")."""
    found: dict[tuple[str, str], list[float]] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for definition in document["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = document[metric["Name"]]
                key = (metric["Name"], str(document.get("category", "")))
                found.setdefault(key, []).extend(float(one) for one in (value if isinstance(value, list) else [value]))
    return found

"""Property: whatever happens to a handful of cases (opened confirmed or not, with or without an
assignee in the directory, reassigned, failed attempts, a first exchange by call or by reply on
time or late, the sweeper's breach, a promise, a second exchange, closed, tags changed, the
category moved before the first exchange, the fallback claimed), once the Cases stream has been
applied in batches (some bisected, some handed over again, some cancelled by transaction conflicts
and retried from the first record reported), the case counters and every staff member's
`open_cases` equal a recount from the items: verify_cases() finds no difference."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop.ids import new_id
from closeloop.models import Case
from closeloop.services import counters
from closeloop.services.stats import verify_cases
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.case_counters_support import (
    DUE,
    SCORES,
    add_staff,
    cases_stream,
    deliver,
    first_exchange,
    open_case,
    open_cases_of,
)
from tests.integration.responses_support import cancelled_transactions, pynamodb_client

_examples = itertools.count()
CATEGORIES = ("detractor", "passive", "promoter")
KINDS = ("open", "open", "reassign", "fail", "call", "reply", "breach", "promise", "second", "close", "tags")
KINDS += ("move", "fallback", "confirm")
TAGS = ("delivery", "price", "quality", "billing", "support", "stock", "training")


@dataclass(frozen=True)
class Happening:
    kind: str
    case: int  # which of the 4 cases
    who: int  # a staff member (3 = one not in the directory), a category, a promise...
    hours: int  # when, after the response
    tags: frozenset[str]


happenings = st.builds(
    Happening,
    kind=st.sampled_from(KINDS),
    case=st.integers(0, 3),
    who=st.integers(0, 3),
    hours=st.integers(0, 120),
    tags=st.frozensets(st.sampled_from(TAGS), max_size=6),
)
deliveries = st.lists(st.tuples(st.integers(1, 6), st.booleans(), st.sampled_from([0, 0, 1, 5])), min_size=1)


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)
    exact_numbers()
    return stack


def _happen(happening: Happening, cases: dict[int, Case], staff_ids: list[str], example: int) -> None:
    case = cases.get(happening.case)
    if happening.kind == "open":
        if case is None:
            cases[happening.case] = open_case(
                assignee_id=staff_ids[happening.who],
                category=CATEGORIES[happening.who % 3],
                wave_id=f"01JWAVE{example % 2}",
                segment=("pharmacy", "hospital")[happening.case % 2],
                language=("fr", "en")[happening.hours % 2],
                month=f"2027-0{1 + happening.case % 3}",
                confirmed=happening.hours % 3 != 0,
            )
        return
    if case is None:
        return
    case.refresh(consistent_read=True)
    closed, exchanged = case.status == "closed", case.first_exchange_at is not None
    at = case.responded_at + timedelta(hours=happening.hours)
    update: list[Any] = []
    if happening.kind == "reassign" and not closed:
        update = [Case.assignee_id.set(staff_ids[happening.who]), Case.assignment.set("manual")]
    elif happening.kind == "fail" and not closed:
        update = [Case.attempt_count.add(1), Case.failed_attempt_count.add(1), Case.last_attempt_at.set(at)]
    elif happening.kind in ("call", "reply") and not closed and not exchanged:
        first_exchange(case, at, "call" if happening.kind == "call" else "reply", set(happening.tags) or None)
    elif happening.kind == "breach" and not closed and not exchanged:
        update = [Case.breached_at.set(Case.breached_at | case.due_at), Case.last_timer.set(f"escalate#1@{at}")]
    elif happening.kind == "promise" and exchanged and case.status == "open":
        promise = ("none", "solution_now", "improvement_loop")[happening.who % 3]
        update = [Case.promise.set(promise)]
        if promise == "improvement_loop":
            update.append(Case.status.set("awaiting_second"))
        else:
            update += [Case.status.set("closed"), Case.queue_due_at.remove(), Case.closed_at.set(at)]
            update.append(Case.close_reason.set("loop_closed" if promise == "solution_now" else "manual"))
        if promise == "solution_now":
            update += [Case.second_exchange_at.set(case.first_exchange_at), Case.second_exchange_kind.set("call")]
            update += [Case.second_delay_h.set(case.first_delay_h), Case.second_delay_bh.set(case.first_delay_bh)]
    elif happening.kind == "second" and case.status == "awaiting_second":
        update = [Case.second_exchange_at.set(at), Case.second_exchange_kind.set("email")]
        update += [Case.second_delay_h.set(happening.hours), Case.second_delay_bh.set(happening.hours * 9 / 24)]
        update += [Case.status.set("closed"), Case.close_reason.set("loop_closed"), Case.queue_due_at.remove()]
    elif happening.kind == "close" and not closed:
        update = [Case.status.set("closed"), Case.close_reason.set("unreachable"), Case.queue_due_at.remove()]
        update += [Case.timer_shard.remove(), Case.next_timer_at.remove(), Case.next_timer_step.remove()]
    elif happening.kind == "tags" and not closed:
        update = [Case.tags.set(set(happening.tags)) if happening.tags else Case.tags.remove()]
    elif happening.kind == "move" and not closed and not exchanged:
        category = CATEGORIES[happening.who % 3]
        update = [Case.category.set(category), Case.score.set(SCORES[category]), Case.due_at.set(DUE[category])]
    elif happening.kind == "fallback":
        update = [Case.fallback_at.set(Case.fallback_at | at)]
    elif happening.kind == "confirm":
        update = [Case.confirmed.set(True)]
    if update:
        case.update(actions=update, add_version_condition=False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(happenings, min_size=1, max_size=30), batches=deliveries)
def test_case_counters_equal_a_recount_after_any_history_of_cases(
    ready: Any, sequence: list[Happening], batches: list[tuple[int, bool, int]]
) -> None:
    example = next(_examples)
    staff = [add_staff(), add_staff("Marc Lefèvre"), add_staff("Inès Moreau")]
    staff_ids = [member.staff_id for member in staff] + [new_id()]  # the last one left the directory
    stream = cases_stream()
    cases: dict[int, Case] = {}

    for happening in sequence:
        _happen(happening, cases, staff_ids, example)
    records = stream.read()
    begin = 0
    for size, bisect, conflicts in itertools.cycle(batches):
        if begin >= len(records):
            break
        chunk = records[begin : begin + size]
        with cancelled_transactions(pynamodb_client(), times=conflicts):
            deliver(chunk, bisect=bisect)
        if conflicts:
            deliver(chunk)  # handed over again
        begin += size

    assert verify_cases() == []
    for member in staff:
        mine = [case for case in cases.values() if case.assignee_id == member.staff_id]
        for case in mine:
            case.refresh(consistent_read=True)
        assert open_cases_of(member) == sum(1 for case in mine if case.status != "closed")

"""Assigning cases to callers (DESIGN R5, docs/callbacks.md "Assignment"): the choice for a new or
handed-back case, one case moved to someone else, and every open case of someone who leaves.

The rule is closeloop.rules.assignment; here are its reads: the account owner through Staff
`by_email`, the pool through Staff `by_pool` (active callers, with `open_cases` and `capacity`
projected), and the container's ledger of recent picks that the stored loads do not show yet.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from closeloop import clock
from closeloop.errors import Conflict, NotFound
from closeloop.models import Case, Contact, Staff
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.rules.assignment import LOAD, Candidate, PickLedger, pick_assignee
from closeloop.rules.contact_fields import Language

POOL = "caller"
CONDITION_FAILED = "ConditionalCheckFailedException"
REASSIGN_TRIES = 3

_ledger = PickLedger()
_snapshot: list[list[Staff] | None] = []  # the pool read once per batch (see `one_pool_read`)


@contextmanager
def one_pool_read() -> Iterator[None]:
    """Within the block, the pool is read once (on first need) and reused: a batch of openings
    costs one Query of `by_pool`, not one per case. The ledger keeps the picks of the block
    balanced on top of that one read."""
    _snapshot.append(None)
    try:
        yield
    finally:
        _snapshot.pop()


def _pool() -> list[Staff]:
    if _snapshot and _snapshot[-1] is not None:
        return _snapshot[-1]
    found = list(Staff.by_pool.query(POOL))
    if _snapshot:
        _snapshot[-1] = found
    return found


@dataclass(frozen=True)
class Choice:
    staff_id: str | None
    kind: str  # owner, load
    stored_open_cases: int = 0  # the chosen one's load as read, for the ledger


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _candidate(staff: Staff) -> Candidate:
    return Candidate(
        staff_id=staff.staff_id,
        open_cases=_number(staff.open_cases),
        capacity=_number(staff.capacity),
        active=staff.active is not False,
        in_pool=staff.pool == POOL,
    )


def _owner(contact: Contact | None) -> Staff | None:
    owner = (contact.account_owner or "").strip() if contact is not None else ""
    return Staff.find_by_email(owner) if owner else None


def find_assignee(contact: Contact | None, *, exclude: frozenset[str] = frozenset()) -> Choice:
    """Who should take a case of this contact now (nobody noted yet: see `note_assignment`)."""
    now = time.monotonic()  # the ledger measures the counters' real lag, not domain time
    stored: dict[str, int] = {}
    owner_item = _owner(contact)
    owner = None
    if owner_item is not None:
        stored[owner_item.staff_id] = _number(owner_item.open_cases)
        owner = _ledger.effective(_candidate(owner_item), now)
    pool = []
    for staff in _pool():
        stored[staff.staff_id] = _number(staff.open_cases)
        pool.append(_ledger.effective(_candidate(staff), now))
    pick = pick_assignee(owner, pool, exclude=exclude)
    if pick is None:
        return Choice(None, LOAD)
    return Choice(pick.staff_id, pick.kind, stored.get(pick.staff_id, 0))


def note_assignment(choice: Choice) -> None:
    """Count a case given to `choice.staff_id` until the stored loads show it."""
    if choice.staff_id is not None:
        _ledger.note(choice.staff_id, choice.stored_open_cases, time.monotonic())


def forget_picks() -> None:
    """Drop the ledger (tests; a container starts with an empty one)."""
    _ledger.forget()


def choose_assignee(contact: Contact | None, *, exclude: frozenset[str] = frozenset()) -> tuple[str | None, str]:
    """(staff_id or None when nobody can take it, assignment kind `owner` or `load`); the pick is
    counted in this container's ledger."""
    choice = find_assignee(contact, exclude=exclude)
    note_assignment(choice)
    return choice.staff_id, choice.kind


def _stamp(now: datetime) -> list[Any]:
    actions: list[Any] = [Case.updated_at.set(now)]
    found = correlation_id()
    if found:
        actions.append(Case.correlation_id.set(found))
    return actions


def reassign_case(
    case_id: str, *, to_staff_id: str | None, assignment: str, expected_version: int, reader: Language = "en"
) -> Case:
    """Give the case to `to_staff_id` (None: to nobody, for managers to see), checked against the
    version the person read: Conflict when someone changed the case since, or it is closed (its
    messages in the `reader`'s language)."""
    now = clock.now()
    case = Case(case_id)
    case.version = expected_version
    actions: list[Any] = [Case.assignment.set(assignment), *_stamp(now)]
    if to_staff_id is None:
        actions += [Case.assignee_id.remove(), Case.assigned_at.remove()]
    else:
        actions += [Case.assignee_id.set(to_staff_id), Case.assigned_at.set(now)]
    try:
        case.update(actions=actions, condition=Case.case_id.exists() & (Case.status != "closed"))
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
        try:
            found = Case.get(case_id, consistent_read=True)
        except DoesNotExist:
            raise NotFound("ce rappel n'existe pas" if reader == "fr" else "no such case") from None
        if found.status == "closed":
            raise Conflict("le rappel est clos" if reader == "fr" else "the case is closed") from None
        raise Conflict(
            "quelqu'un d'autre a modifié le rappel : rechargez-le"
            if reader == "fr"
            else "the case was changed by someone else: reload it"
        ) from None
    metrics.add_metric(name="cases_reassigned", unit=MetricUnit.Count, value=1)
    return case


def _contact_of(case: Case) -> Contact | None:
    try:
        return Contact.get(case.contact_id)
    except DoesNotExist:
        return None


def _move_away(case: Case, staff_id: str, reason: str) -> bool:
    """Move one case off `staff_id`; False when it is no longer theirs or closed."""
    for _ in range(REASSIGN_TRIES):
        if case.assignee_id != staff_id or case.status == "closed":
            return False
        choice = find_assignee(_contact_of(case), exclude=frozenset({staff_id}))
        try:
            reassign_case(
                case.case_id, to_staff_id=choice.staff_id, assignment=reason, expected_version=int(case.version or 0)
            )
        except Conflict:
            try:
                case = Case.get(case.case_id, consistent_read=True)
            except DoesNotExist:
                return False
            continue
        note_assignment(choice)
        if choice.staff_id is None:
            logger.warning("case left without an assignee: nobody in the pool", extra={"case_id": case.case_id})
        return True
    raise Conflict("the case kept changing while it was reassigned: try again")


def reassign_open_cases(staff_id: str, *, reason: str = "handback") -> int:
    """Every case of `staff_id` not closed, given to someone else (staff_sync on deactivation);
    how many moved. Safe to run again: a case already moved is left alone."""
    moved = 0
    for case in list(Case.by_assignee.query(staff_id)):  # read first: each move takes a case off the index
        if _move_away(case, staff_id, reason):
            moved += 1
    logger.info("open cases reassigned", extra={"staff_id": staff_id, "moved": moved})
    return moved

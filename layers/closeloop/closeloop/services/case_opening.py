"""A case for every response (F4, DESIGN R3-R5; docs/callbacks.md "Opening a case").

Driven by the Responses stream (closeloop.services.response_flow). A response's first whole image
opens its case: category, due date and reminder in business time (closeloop.rules.sla), the
script of its category and language, the assignee (closeloop.services.assignment), whether the
contact has a phone, the first SLA step. One case per response: the Put is
`attribute_not_exists(case_id)`, so a record handed over twice opens nothing twice. A later
change of the response follows: a new category moves the due date, the script and the timers
while the case has had no exchange (`category = :old AND attribute_not_exists(first_exchange_at)`);
score and confirmation are mirrored always. A change whose case does not exist (its opening
record failed, or moto streamed the item's keys before the item) opens it from the new image.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from closeloop import clock
from closeloop.models import Case, Contact
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.rules.case_opening import change_of, confirmed_of, script_of, timer_after_move
from closeloop.rules.sla import business_calendar, sla_for, timer_shard
from closeloop.services.assignment import find_assignee, note_assignment
from closeloop.settings import get_settings

CONDITION_FAILED = "ConditionalCheckFailedException"
MOVE_TRIES = 3
_TIME = UTCDateTimeAttribute()


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    found: datetime = _TIME.deserialize(str(value))
    return found


def _score(value: Any) -> int:
    return int(value)


def _contact(contact_id: str) -> Contact | None:
    try:
        return Contact.get(contact_id)
    except DoesNotExist:
        return None


def open_case(response: Mapping[str, Any]) -> Case | None:
    """Open the case of a response (its stream image); None when it was open already."""
    settings = get_settings()
    now = clock.now()
    case_id = str(response["response_id"])
    category = str(response["category"])
    language = str(response.get("language") or "fr")
    responded_at = _time(response.get("created_at") or now)
    contact = _contact(str(response["contact_id"]))
    choice = find_assignee(contact)
    sla = sla_for(category, responded_at, business_calendar(settings), settings)
    step, step_at = sla.first_timer()
    case = Case(
        case_id,
        contact_id=str(response["contact_id"]),
        wave_id=str(response["wave_id"]),
        segment=response.get("segment"),
        language=language,
        month=response.get("month"),
        score=_score(response["score"]),
        category=category,
        confirmed=confirmed_of(response),
        responded_at=responded_at,
        opened_at=now,
        due_at=sla.due_at,
        queue_due_at=sla.due_at,
        script=script_of(category, language),
        assignee_id=choice.staff_id,
        assigned_at=now if choice.staff_id else None,
        assignment=choice.kind if choice.staff_id else None,
        status="open",
        has_phone=bool(contact is not None and contact.phone),
        timer_shard=timer_shard(case_id),
        next_timer_at=step_at,
        next_timer_step=step,
        created_at=now,
        updated_at=now,
    )
    try:
        case.save(condition=Case.case_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
        logger.info("case open already", extra={"case_id": case_id})
        return None
    note_assignment(choice)
    metrics.add_metric(name="cases_opened", unit=MetricUnit.Count, value=1)
    if choice.staff_id is None:
        metrics.add_metric(name="cases_unassigned", unit=MetricUnit.Count, value=1)
        logger.warning("case opened with nobody to call: the caller pool is empty", extra={"case_id": case_id})
    logger.info(
        "case opened",
        extra={"case_id": case_id, "category": category, "assignment": choice.kind, "confirmed": case.confirmed},
    )
    return case


def _stamp(now: datetime) -> list[Any]:
    actions: list[Any] = [Case.updated_at.set(now)]
    found = correlation_id()
    if found:
        actions.append(Case.correlation_id.set(found))
    return actions


def _mirror_actions(response: Mapping[str, Any]) -> list[Any]:
    return [
        Case.score.set(_score(response["score"])),
        Case.category.set(str(response["category"])),
        Case.confirmed.set(confirmed_of(response)),
    ]


def _move(case: Case, response: Mapping[str, Any], old_category: str) -> bool:
    """New due date, script and timers for the new category; False when the condition failed."""
    settings = get_settings()
    now = clock.now()
    category = str(response["category"])
    sla = sla_for(category, case.responded_at, business_calendar(settings), settings)
    timer = timer_after_move(sla, case.last_timer, now)
    actions: list[Any] = [
        *_mirror_actions(response),
        Case.due_at.set(sla.due_at),
        Case.queue_due_at.set(sla.due_at),
        Case.script.set(script_of(category, case.language)),
        *_stamp(now),
    ]
    if timer.step is not None and timer.at is not None:
        actions += [
            Case.timer_shard.set(timer_shard(case.case_id)),
            Case.next_timer_at.set(timer.at),
            Case.next_timer_step.set(timer.step),
        ]
    if not timer.keeps_breach:
        actions.append(Case.breached_at.remove())
    seen_timer = Case.last_timer == case.last_timer if case.last_timer else Case.last_timer.does_not_exist()
    condition = (
        (Case.category == old_category) & Case.first_exchange_at.does_not_exist() & (Case.status == "open") & seen_timer
    )
    try:
        case.update(actions=actions, condition=condition, add_version_condition=False)
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
        return False
    metrics.add_metric(name="cases_moved", unit=MetricUnit.Count, value=1)
    logger.info("case moved", extra={"case_id": case.case_id, "category": category, "step": timer.step})
    return True


def _mirror(case: Case, response: Mapping[str, Any]) -> None:
    case.update(
        actions=[*_mirror_actions(response), *_stamp(clock.now())],
        condition=Case.case_id.exists(),
        add_version_condition=False,
    )


def follow_response(event_name: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> str:
    """Apply one Responses stream record to its case: `opened`, `existing` (open already),
    `moved`, `mirrored` or `unchanged`."""
    change = change_of(event_name, new, old)
    if change == "none" or new is None:
        return "unchanged"
    if change == "open":
        return "opened" if open_case(new) is not None else "existing"
    old_category = str((old or {}).get("category"))
    for _ in range(MOVE_TRIES):
        try:
            case = Case.get(str(new["response_id"]), consistent_read=True)
        except DoesNotExist:
            return "opened" if open_case(new) is not None else "existing"
        movable = (
            change == "move"
            and case.category == old_category
            and case.first_exchange_at is None
            and case.status == "open"
        )
        if movable and _move(case, new, old_category):
            return "moved"
        if movable:
            continue  # a timer fired or a call came meanwhile: read it again
        if _same(case.score, new["score"]) and case.category == new["category"] and case.confirmed == confirmed_of(new):
            return "unchanged"
        _mirror(case, new)
        return "mirrored"
    raise RuntimeError("the case kept changing while it was moved")


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False

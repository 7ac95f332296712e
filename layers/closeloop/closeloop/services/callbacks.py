"""Callbacks as staff work them (F5, docs/callbacks.md "The staff API", "Logging an attempt"): a
caller's queue, the managers' lists, a case's detail, logging a call attempt, handing a case back
and reassigning it.

Who may see a case: its assignee and the managers (and admins). Other callers get 403: a case
shows a customer's name, phone, comment and the notes of calls, so it is shown to those who work
it (personal data minimisation, DESIGN Q3) and to those who run the programme.

Every message is in English and in French: `reader` is the language of the person asking (the
routes pass it), English when not given.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.constants import KEY
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action

from closeloop import aws, clock
from closeloop.api.access import MANAGERS
from closeloop.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from closeloop.identity import Identity
from closeloop.ids import new_id
from closeloop.models import Attempt, Case, Contact, Message, Response, Staff
from closeloop.models.case import CASE_STATUSES, TAGS_MAX
from closeloop.models.response import CATEGORIES
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.rules import attempts as rules
from closeloop.rules.contact_fields import Language
from closeloop.rules.nps import category_of
from closeloop.rules.sla import business_calendar, delays
from closeloop.services import taxonomy
from closeloop.services.threads import message_view
from closeloop.settings import get_settings

TRIES = 3
"""Tries of the attempt transaction after a TransactionConflict (full jitter), then 503."""
REPLANS = 3
"""Times the attempt is planned again when the case changed under it (its condition failed)."""
QUEUE_MAX = 500
ATTEMPTS_MAX = 200
MESSAGES_MAX = 200
LIST_LIMIT_MAX = 100
_TIME = UTCDateTimeAttribute()
_TIMER_ATTRIBUTES = ("timer_shard", "next_timer_at", "next_timer_step")


def _say(reader: Language, english: str, french: str) -> str:
    """The message in the reader's language."""
    return french if reader == "fr" else english


# ------------------------------------------------------------------ who is asking


@dataclass(frozen=True)
class Caller:
    """The signed-in staff member and what they may do."""

    staff: Staff
    groups: frozenset[str]

    @property
    def staff_id(self) -> str:
        return str(self.staff.staff_id)

    @property
    def manages(self) -> bool:
        return bool(self.groups & MANAGERS)


def caller_of(identity: Identity, reader: Language = "en") -> Caller:
    """The directory's record of the signed-in person (Forbidden when not there or inactive)."""
    staff = Staff.find_by_email(identity.email) if identity.email else None
    if staff is None:
        raise Forbidden(
            _say(reader, "you are not in the staff directory", "vous n'êtes pas dans l'annuaire du personnel")
        )
    if not staff.active:
        raise Forbidden(_say(reader, "your staff account is inactive", "votre compte du personnel est désactivé"))
    return Caller(staff, identity.groups)


def _may_see(case: Case, caller: Caller, reader: Language = "en") -> None:
    if caller.manages or case.assignee_id == caller.staff_id:
        return
    raise Forbidden(
        _say(
            reader,
            "this case is assigned to someone else: only its assignee and the managers see it",
            "ce rappel est confié à quelqu'un d'autre : seuls son appelant et les managers le voient",
        )
    )


def check_may_log(case_id: str, caller: Caller, reader: Language = "en") -> None:
    """NotFound for an unknown case, Forbidden for a caller who is not its assignee."""
    _may_see(get_case(case_id, reader=reader), caller, reader)


# ------------------------------------------------------------------ reading


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def get_case(case_id: str, *, consistent: bool = False, reader: Language = "en") -> Case:
    try:
        return Case.get(case_id, consistent_read=consistent)
    except DoesNotExist:
        raise NotFound(_say(reader, "no such case", "ce rappel n'existe pas")) from None


def is_overdue(case: Case, now: datetime) -> bool:
    """Open, no first exchange, and past its due time."""
    return case.status == "open" and case.first_exchange_at is None and case.due_at < now


def case_view(case: Case, now: datetime) -> dict[str, Any]:
    """A case as the API shows it (no personal data: that comes from the contact and the response)."""
    return {
        "case_id": case.case_id,
        "contact_id": case.contact_id,
        "wave_id": case.wave_id,
        "segment": case.segment,
        "language": case.language,
        "status": case.status,
        "category": case.category,
        "score": int(case.score),
        "confirmed": bool(case.confirmed),
        "responded_at": _iso(case.responded_at),
        "opened_at": _iso(case.opened_at),
        "due_at": _iso(case.due_at),
        "overdue": is_overdue(case, now),
        "breached_at": _iso(case.breached_at),
        "script": case.script,
        "assignee_id": case.assignee_id,
        "assigned_at": _iso(case.assigned_at),
        "assignment": case.assignment,
        "has_phone": bool(case.has_phone),
        "attempt_count": int(case.attempt_count or 0),
        "failed_attempt_count": int(case.failed_attempt_count or 0),
        "last_attempt_at": _iso(case.last_attempt_at),
        "fallback_at": _iso(case.fallback_at),
        "reply_count": int(case.reply_count or 0),
        "last_reply_at": _iso(case.last_reply_at),
        "first_exchange": _exchange(
            case.first_exchange_at, case.first_exchange_kind, case.first_delay_h, case.first_delay_bh
        ),
        "promise": case.promise,
        "wants_follow_up": case.wants_follow_up,
        "second_exchange": _exchange(
            case.second_exchange_at, case.second_exchange_kind, case.second_delay_h, case.second_delay_bh
        ),
        "tags": sorted(case.tags or []),
        "closed_at": _iso(case.closed_at),
        "close_reason": case.close_reason,
        "version": case.version,
    }


def _exchange(at: datetime | None, kind: str | None, hours: Any, business_hours: Any) -> dict[str, Any] | None:
    if at is None:
        return None
    return {
        "at": _iso(at),
        "kind": kind,
        "delay_h": float(hours) if hours is not None else None,
        "delay_bh": float(business_hours) if business_hours is not None else None,
    }


def _display_name(contact: Contact | None) -> dict[str, Any]:
    if contact is None:
        return {"name": None, "company": None}
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part) or None
    return {"name": name, "company": contact.company}


def _contacts(contact_ids: Iterable[str]) -> dict[str, Contact]:
    """Names and companies of these contacts, in BatchGetItem calls of 100 keys."""
    wanted = sorted(set(contact_ids))
    if not wanted:
        return {}
    found = Contact.batch_get(wanted, attributes_to_get=["contact_id", "first_name", "last_name", "company"])
    return {contact.contact_id: contact for contact in found}


def _with_contacts(cases: list[Case], now: datetime) -> list[dict[str, Any]]:
    contacts = _contacts(case.contact_id for case in cases)
    return [case_view(case, now) | {"customer": _display_name(contacts.get(case.contact_id))} for case in cases]


def my_queue(identity: Identity, reader: Language = "en") -> dict[str, Any]:
    """The signed-in caller's cases not closed: overdue first, then by due date."""
    caller = caller_of(identity, reader)
    now = clock.now()
    cases = list(Case.by_assignee.query(caller.staff_id, scan_index_forward=True, limit=QUEUE_MAX))
    # The index orders by due date; a case past its due date that already had its first exchange
    # (awaiting the second, or answered by mail) is not overdue, so the overdue ones go first.
    cases.sort(key=lambda case: (not is_overdue(case, now), case.due_at))
    entries = _with_contacts(cases, now)
    return {
        "staff_id": caller.staff_id,
        "cases": entries,
        "overdue": sum(1 for entry in entries if entry["overdue"]),
        "as_of": _iso(now),
    }


# ------------------------------------------------------------------ the managers' list


def _cursor_out(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _cursor_in(cursor: str | None, reader: Language = "en") -> dict[str, Any] | None:
    if not cursor:
        return None
    foreign = _say(reader, "cursor is not one this API gave", "ce cursor n'a pas été donné par cette API")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidInput(foreign) from None
    valid = (
        isinstance(key, dict)
        and set(key) == {"case_id", "status", "due_at"}
        and all(
            isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str) for value in key.values()
        )
    )
    if not valid:
        raise InvalidInput(foreign)
    checked: dict[str, Any] = key
    return checked


def list_cases(
    *,
    status: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    assignee: str | None = None,
    wave: str | None = None,
    unconfirmed: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
    reader: Language = "en",
) -> dict[str, Any]:
    """Cases of one status by due date (default `open`), filtered; `overdue` = open, no first
    exchange, due before now. A page at most `limit` long and the cursor of the next one."""
    if overdue:
        if status not in (None, "open"):
            raise InvalidInput(
                _say(
                    reader,
                    "overdue cases are open cases: leave status out or give open",
                    "les rappels en retard sont des rappels ouverts : omettez status ou indiquez open",
                )
            )
        status = "open"
    status = status or "open"
    if status not in CASE_STATUSES:
        raise InvalidInput(
            _say(
                reader,
                f"status must be one of: {', '.join(CASE_STATUSES)}",
                f"status doit être l'une de ces valeurs : {', '.join(CASE_STATUSES)}",
            )
        )
    if category is not None and category not in CATEGORIES:
        raise InvalidInput(
            _say(
                reader,
                f"category must be one of: {', '.join(CATEGORIES)}",
                f"category doit être l'une de ces valeurs : {', '.join(CATEGORIES)}",
            )
        )
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidInput(_say(reader, f"limit is from 1 to {LIST_LIMIT_MAX}", f"limit va de 1 à {LIST_LIMIT_MAX}"))
    now = clock.now()
    conditions: list[Condition] = []
    range_condition = None
    if overdue:
        range_condition = Case.due_at < now
        conditions.append(Case.first_exchange_at.does_not_exist())
    elif overdue is False and status == "open":
        conditions.append(Case.first_exchange_at.exists() | (Case.due_at >= now))
    if category:
        conditions.append(Case.category == category)
    if wave:
        conditions.append(Case.wave_id == wave)
    if unconfirmed is not None:
        conditions.append(Case.confirmed == (not unconfirmed))
    if assignee == "none":
        conditions.append(Case.assignee_id.does_not_exist())
    elif assignee:
        conditions.append(Case.assignee_id == assignee)
    filter_condition = None
    for condition in conditions:
        filter_condition = condition if filter_condition is None else filter_condition & condition
    found = Case.by_status.query(
        status,
        range_condition,
        filter_condition=filter_condition,
        scan_index_forward=True,
        limit=limit,
        last_evaluated_key=_cursor_in(cursor, reader),
    )
    cases = list(found)
    next_key = found.last_evaluated_key if len(cases) == limit else None
    return {"cases": _with_contacts(cases, now), "next_cursor": _cursor_out(next_key), "as_of": _iso(now)}


# ------------------------------------------------------------------ the detail


def _batch_get(requests: dict[str, dict[str, Any]], reader: Language = "en") -> dict[str, list[dict[str, Any]]]:
    """One BatchGetItem across tables (retrying unprocessed keys twice)."""
    found: dict[str, list[dict[str, Any]]] = {}
    client = aws.client("dynamodb")
    pending = requests
    for _ in range(3):
        answer = client.batch_get_item(RequestItems=pending)
        for table, items in answer.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        pending = answer.get("UnprocessedKeys") or {}
        if not pending:
            return found
    raise Unavailable(
        _say(
            reader,
            "the case cannot be read right now: try again",
            "le rappel ne peut pas être lu pour le moment : réessayez",
        )
    )


def _script(category: str, language: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """The call guide of the category in `language`, filled with the customer's and the caller's
    values (closeloop.scripts)."""
    from closeloop.scripts import UnknownScript, load_script

    try:
        return dict(load_script(category, language, **values).as_dict())
    except (UnknownScript, FileNotFoundError):
        logger.warning("no script", extra={"category": category, "language": language})
        return None


def attempt_view(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt_id": attempt.attempt_id,
        "attempt_key": attempt.attempt_key,
        "staff_id": attempt.staff_id,
        "outcome": attempt.outcome,
        "attempted_at": _iso(attempt.attempted_at),
        "notes": attempt.notes,
        "tags": sorted(attempt.tags or []),
        "confirmed_score": int(attempt.confirmed_score) if attempt.confirmed_score is not None else None,
        "promise": attempt.promise,
        "wants_follow_up": attempt.wants_follow_up,
        "second_exchange": bool(attempt.second_exchange),
    }


def _history(case: Case, attempts: list[Attempt], messages: list[Message]) -> list[dict[str, Any]]:
    """What happened to the case, oldest first."""
    events: list[tuple[datetime, dict[str, Any]]] = [(case.opened_at, {"event": "opened"})]
    if case.assigned_at is not None:
        events.append(
            (case.assigned_at, {"event": "assigned", "assignee_id": case.assignee_id, "assignment": case.assignment})
        )
    events += [
        (attempt.attempted_at, {"event": "attempt", "outcome": attempt.outcome, "staff_id": attempt.staff_id})
        for attempt in attempts
    ]
    events += [
        (message.at, {"event": f"mail_{message.direction}", "kind": message.kind})
        for message in messages
        if message.at is not None
    ]
    marks = (
        (case.fallback_at, "fallback"),
        (case.first_exchange_at, "first_exchange"),
        (case.breached_at, "breached"),
        (case.second_exchange_at, "second_exchange"),
        (case.closed_at, "closed"),
    )
    events += [(at, {"event": name}) for at, name in marks if at is not None]
    events.sort(key=lambda pair: pair[0])
    return [{"at": _iso(at)} | event for at, event in events]


def show_case(
    case_id: str, identity: Identity, *, language: str | None = None, reader: Language = "en"
) -> dict[str, Any]:
    """Everything a caller needs before and after the call: the customer, their answer, the mail of
    the thread, the attempts, the script (in the customer's language, or `language`) and the
    history. Forbidden for a caller who is not the assignee."""
    caller = caller_of(identity, reader)
    if language is not None and language not in ("fr", "en"):
        raise InvalidInput(_say(reader, "lang is fr or en", "lang vaut fr ou en"))
    case = get_case(case_id, reader=reader)
    _may_see(case, caller, reader)
    settings = get_settings()
    requests: dict[str, dict[str, Any]] = {
        settings.responses_table: {"Keys": [{"response_id": {"S": case_id}}]},
        settings.contacts_table: {"Keys": [{"contact_id": {"S": case.contact_id}}]},
    }
    if case.assignee_id:
        requests[settings.staff_table] = {
            "Keys": [{"staff_id": {"S": case.assignee_id}}],
            "ProjectionExpression": "staff_id, #n, email",
            "ExpressionAttributeNames": {"#n": "name"},
        }
    found = _batch_get(requests, reader)
    responses = found.get(settings.responses_table) or []
    contacts = found.get(settings.contacts_table) or []
    staff = found.get(settings.staff_table) or []
    response = Response.from_raw_data(responses[0]) if responses else None
    contact = Contact.from_raw_data(contacts[0]) if contacts else None
    assignee = Staff.from_raw_data(staff[0]) if staff else None
    attempts = list(Attempt.query(case_id, scan_index_forward=True, limit=ATTEMPTS_MAX))
    messages = list(Message.query(case_id, scan_index_forward=True, limit=MESSAGES_MAX))
    now = clock.now()
    return case_view(case, now) | {
        "customer": _display_name(contact)
        | {
            "email": contact.email if contact else None,
            "phone": contact.phone if contact else None,
            "language": contact.language if contact else case.language,
        },
        "assignee": {"staff_id": assignee.staff_id, "name": assignee.name, "email": assignee.email}
        if assignee
        else None,
        "response": {
            "score": int(response.score),
            "category": response.category,
            "confirmed": bool(response.confirmed),
            "source": response.source,
            "comment": response.comment,
            "created_at": _iso(response.created_at),
            "locked_at": _iso(response.locked_at),
        }
        if response
        else None,
        "attempts": [attempt_view(attempt) for attempt in attempts],
        "messages": [message_view(message) for message in messages],
        "script": _script(
            case.category,
            language or case.language,
            {
                "customer_name": _display_name(contact)["name"],
                "company": contact.company if contact else None,
                "score": int(response.score) if response else int(case.score),
                "comment": response.comment if response else None,
                "caller_name": caller.staff.name,
                "company_name": settings.company_name,
            },
        ),
        "history": _history(case, attempts, messages),
        "as_of": _iso(now),
    }


# ------------------------------------------------------------------ logging an attempt


@dataclass(frozen=True)
class Logged:
    attempt: Attempt
    case: Case


def _update(
    model: type[Case] | type[Response], key: str, actions: list[Action], condition: Condition
) -> dict[str, Any]:
    request: dict[str, Any] = model._get_connection().get_operation_kwargs(
        key, key=KEY, actions=actions, condition=condition
    )
    return {"Update": request}


def _case_update(case: Case, change: rules.Transition, attempt: rules.AttemptInput, now: datetime) -> dict[str, Any]:
    """The case's Update: commutative actions (ADD, if_not_exists), a status move only from the
    status read, never on a closed case."""
    settings = get_settings()
    actions: list[Action] = [
        Case.attempt_count.add(1),
        Case.version.add(1),
        Case.last_attempt_at.set(now),
        Case.updated_at.set(now),
    ]
    cid = correlation_id()
    if cid:
        actions.append(Case.correlation_id.set(cid))
    if change.failed:
        actions.append(Case.failed_attempt_count.add(1))
    if change.new_tags:
        actions.append(Case.tags.add(set(change.new_tags)))
    removed: set[str] = set()
    if change.first_exchange or change.second_exchange:
        measured = delays(business_calendar(settings), case.responded_at, now)
        hours, business_hours = float(measured[0]), float(measured[1])  # 2 places: exact as DynamoDB numbers
    if change.first_exchange:
        actions += [
            Case.first_exchange_at.set(Case.first_exchange_at | now),
            Case.first_exchange_kind.set(Case.first_exchange_kind | "call"),
            Case.first_delay_h.set(Case.first_delay_h | hours),
            Case.first_delay_bh.set(Case.first_delay_bh | business_hours),
        ]
        removed.update(_TIMER_ATTRIBUTES)
    if change.second_exchange:
        actions += [
            Case.second_exchange_at.set(Case.second_exchange_at | now),
            Case.second_exchange_kind.set(Case.second_exchange_kind | "call"),
            Case.second_delay_h.set(Case.second_delay_h | hours),
            Case.second_delay_bh.set(Case.second_delay_bh | business_hours),
        ]
    if change.promise is not None:
        actions.append(Case.promise.set(change.promise))
    if attempt.wants_follow_up is not None:
        actions.append(Case.wants_follow_up.set(attempt.wants_follow_up))
    condition: Condition = Case.case_id.exists() & (Case.status != "closed")
    if change.status is not None:
        actions.append(Case.status.set(change.status))
        condition &= Case.status == case.status
    if change.closes:
        actions += [Case.closed_at.set(now), Case.close_reason.set("loop_closed")]
        removed.update(("queue_due_at", *_TIMER_ATTRIBUTES))
    actions += [getattr(Case, name).remove() for name in sorted(removed)]
    if change.new_tags:
        room = TAGS_MAX - len(change.new_tags)
        condition &= Case.tags.does_not_exist() | (size(Case.tags) <= room)
    return _update(Case, case.case_id, actions, condition)


def _response_update(response: Response, attempt: rules.AttemptInput, now: datetime) -> dict[str, Any]:
    """The response's Update: closed for the customer's edits; the score the customer confirmed or
    corrected on the phone (then confirmed, source phone)."""
    actions: list[Action] = [Response.locked_at.set(Response.locked_at | now)]
    score = attempt.confirmed_score
    if score is not None and (int(response.score) != score or not response.confirmed):
        actions += [
            Response.score.set(score),
            Response.category.set(category_of(score)),
            Response.confirmed.set(True),
            Response.confirmed_at.set(Response.confirmed_at | now),
            Response.source.set("phone"),
            Response.updated_at.set(now),
            Response.version.add(1),
        ]
        if not response.confirmed:  # the customer's first real answer, given on the phone
            actions.append(Response.first_score.set(score))
    return _update(Response, response.response_id, actions, Response.response_id.exists())


def _attempt_put(attempt: Attempt) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": get_settings().attempts_table,
            "Item": attempt.serialize(),
            "ConditionExpression": "attribute_not_exists(#key)",
            "ExpressionAttributeNames": {"#key": "attempt_key"},
        }
    }


def _refused(error: rules.AttemptRefused, reader: Language) -> Exception:
    return Conflict(error.says(reader)) if error.closed else InvalidInput(error.says(reader))


def log_attempt(
    case_id: str,
    *,
    staff_id: str,
    attempt: rules.AttemptInput,
    sleep: Any = time.sleep,
    reader: Language = "en",
) -> Logged:
    """Log one call attempt: the Attempt, the case's consequences and the response's lock in one
    transaction (docs/data-model.md 7.4). Two attempts logged at once both land: the case update
    has no version condition; a `TransactionConflict` is tried again (3 tries, full jitter, then
    Unavailable), a case changed under the attempt is read again and the attempt planned again."""
    try:
        notes = rules.clean_notes(attempt.notes)
    except rules.AttemptRefused as error:
        raise _refused(error, reader) from None
    if attempt.tags:
        tags = taxonomy.tags_for(attempt.tags)
        try:
            rules.check_tags(attempt.tags, set(tags), {tag for tag, item in tags.items() if item.active})
        except rules.AttemptRefused as error:
            raise _refused(error, reader) from None
    now = clock.now()
    record = Attempt(
        case_id,
        f"{_TIME.serialize(now)}#{new_id()}",
        staff_id=staff_id,
        outcome=attempt.outcome,
        attempted_at=now,
        notes=notes,
        tags=set(attempt.tags) or None,
        confirmed_score=attempt.confirmed_score,
        promise=attempt.promise,
        wants_follow_up=attempt.wants_follow_up,
        second_exchange=attempt.second_exchange or None,
        logged_at=now,
    )
    record.attempt_id = record.attempt_key.rsplit("#", 1)[1]
    client = aws.client("dynamodb")
    conflicts = replans = 0
    while True:
        case = get_case(case_id, consistent=True, reader=reader)
        try:
            response: Response | None = Response.get(case_id, consistent_read=True)
        except DoesNotExist:
            response = None
        state = rules.CaseState(case.status, case.first_exchange_at is not None, frozenset(case.tags or ()))
        try:
            change = rules.transition(state, attempt)
        except rules.AttemptRefused as error:
            raise _refused(error, reader) from None
        if attempt.confirmed_score is not None and response is None:
            raise InvalidInput(
                _say(reader, "this case has no response to confirm", "ce rappel n'a pas de réponse à confirmer")
            )
        items = [_attempt_put(record), _case_update(case, change, attempt, now)]
        if response is not None:
            items.append(_response_update(response, attempt, now))
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = [str(reason.get("Code")) for reason in error.response.get("CancellationReasons") or []]
            if codes and codes[0] == "ConditionalCheckFailed":
                break  # this very attempt was written (a retried call): answer it
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed" and replans < REPLANS:
                replans += 1
                logger.info("case changed under the attempt: planned again", extra={"case_id": case_id})
                continue
            if "TransactionConflict" in codes and conflicts + 1 < TRIES:
                conflicts += 1
                metrics.add_metric(name="attempt_write_conflicts", unit=MetricUnit.Count, value=1)
                sleep(random.uniform(0, 0.05 * 2**conflicts))  # noqa: S311 - full jitter, not a secret
                continue
            if "TransactionConflict" in codes or "ThrottlingError" in codes:
                metrics.add_metric(name="attempt_write_unavailable", unit=MetricUnit.Count, value=1)
                raise Unavailable(
                    _say(
                        reader,
                        "the attempt could not be saved right now: try again in a moment",
                        "la tentative n'a pas pu être enregistrée pour le moment : réessayez dans un instant",
                    )
                ) from error
            raise Conflict(
                _say(
                    reader,
                    "the case changed meanwhile: reload it and log the call again",
                    "le rappel a changé entre-temps : rechargez-le et enregistrez l'appel à nouveau",
                )
            ) from error
        break
    _count(attempt.outcome)
    logger.info(
        "attempt logged",
        extra={
            "case_id": case_id,
            "attempt_id": record.attempt_id,
            "outcome": attempt.outcome,
            "status": change.status,
        },
    )
    return Logged(record, get_case(case_id, consistent=True, reader=reader))


def _count(outcome: str) -> None:
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name="attempts_logged", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="outcome", value=outcome)


def get_attempt(case_id: str, attempt_key: str, reader: Language = "en") -> Attempt:
    try:
        return Attempt.get(case_id, attempt_key, consistent_read=True)
    except DoesNotExist:
        raise NotFound(_say(reader, "no such attempt", "cette tentative n'existe pas")) from None


# ------------------------------------------------------------------ hand back and reassign


def hand_back(case_id: str, identity: Identity, *, version: int, reader: Language = "en") -> Case:
    """The assignee gives the case back: it goes to the contact's account owner or the least loaded
    other caller (closeloop.services.assignment). Conflict when the case changed since `version` was
    read, is closed, or nobody else can take it."""
    from closeloop.services.assignment import choose_assignee, reassign_case

    caller = caller_of(identity, reader)
    case = get_case(case_id, consistent=True, reader=reader)
    if case.assignee_id != caller.staff_id:
        raise Forbidden(
            _say(
                reader,
                "only the case's assignee hands it back (managers reassign it)",
                "seule la personne à qui le rappel est confié peut le rendre (les managers le réattribuent)",
            )
        )
    _check_movable(case, version, reader)
    try:
        contact: Contact | None = Contact.get(case.contact_id)
    except DoesNotExist:
        contact = None
    to_staff_id, _ = choose_assignee(contact, exclude=frozenset({caller.staff_id}))
    if to_staff_id is None:
        raise Conflict(
            _say(
                reader,
                "no other caller can take this case now: ask a manager to reassign it",
                "aucun autre appelant ne peut prendre ce rappel maintenant : demandez à un manager de le réattribuer",
            )
        )
    moved = reassign_case(
        case_id, to_staff_id=to_staff_id, assignment="handback", expected_version=version, reader=reader
    )
    logger.info("case handed back", extra={"case_id": case_id, "to_staff_id": to_staff_id})
    return moved


def _check_movable(case: Case, version: int, reader: Language) -> None:
    """Conflict when the case is closed or changed since `version` was read."""
    if case.status == "closed":
        raise Conflict(_say(reader, "the case is closed", "le rappel est clos"))
    if case.version != version:
        raise Conflict(
            _say(
                reader,
                "the case changed since it was read: reload it",
                "le rappel a changé depuis que vous l'avez lu : rechargez-le",
            )
        )


def reassign(
    case_id: str, *, to_staff_id: str | None, to_email: str | None, version: int, reader: Language = "en"
) -> Case:
    """A manager gives the case to an active caller; Conflict when it changed since `version`."""
    from closeloop.services.assignment import reassign_case

    if (to_staff_id is None) == (to_email is None):
        raise InvalidInput(
            _say(
                reader,
                "give the caller as to_staff_id or to_email (one of them)",
                "indiquez l'appelant par to_staff_id ou par to_email (l'un des deux)",
            )
        )
    target: Staff | None
    if to_email is not None:
        target = Staff.find_by_email(to_email)
    else:
        try:
            target = Staff.get(to_staff_id)
        except DoesNotExist:
            target = None
    if target is None:
        raise InvalidInput(
            _say(
                reader,
                f"no staff member {to_email or to_staff_id}",
                f"aucun membre du personnel ne correspond à {to_email or to_staff_id}",
            )
        )
    if not target.active or "caller" not in (target.groups or set()):
        raise InvalidInput(
            _say(reader, f"{target.email} is not an active caller", f"{target.email} n'est pas un appelant actif")
        )
    case = get_case(case_id, consistent=True, reader=reader)
    _check_movable(case, version, reader)
    moved = reassign_case(
        case_id, to_staff_id=target.staff_id, assignment="manual", expected_version=version, reader=reader
    )
    logger.info("case reassigned", extra={"case_id": case_id, "to_staff_id": target.staff_id})
    return moved

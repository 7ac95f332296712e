"""What a change of a case sets off (docs/data-model.md 8.1, 8.2; docs/callbacks.md): the emails to
enqueue for the mailer and the domain events to publish. Pure: images in, jobs and events out.

From the old and new images of one Cases stream record:
- INSERT: CaseOpened, and the notice to the assignee;
- assignee changed: CaseAssigned, and the notice to the new assignee;
- `failed_attempt_count` crossing the fallback threshold, or an INSERT without a phone: the
  fallback email (never once the first exchange happened; the mailer's `fallback_at` guard makes
  it once per case whatever the triggers);
- `last_timer` changed: the reminder to the assignee, or the escalation to the managers (and
  CaseOverdue);
- `first_exchange_at` appears: CaseFirstExchange; `second_exchange_at` appears: CaseSecondExchange;
- status becomes `closed`: CaseClosed.
Details carry ids and categories only (never a score, a name, a note).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from closeloop.rules.response_events import DomainEvent
from closeloop.rules.sla import REMIND, escalation_number

SCHEMA = 1
CASE_OPENED = "CaseOpened"
CASE_ASSIGNED = "CaseAssigned"
CASE_FIRST_EXCHANGE = "CaseFirstExchange"
CASE_OVERDUE = "CaseOverdue"
CASE_SECOND_EXCHANGE = "CaseSecondExchange"
CASE_CLOSED = "CaseClosed"

NOTIFY_ASSIGNED = "notify_assigned"
NOTIFY_REPLY = "notify_reply"
REMIND_JOB = "remind"
ESCALATE_JOB = "escalate"
FALLBACK = "fallback"
JOB_KINDS = (NOTIFY_ASSIGNED, NOTIFY_REPLY, REMIND_JOB, ESCALATE_JOB, FALLBACK)
MANAGERS = "managers"
CUSTOMER = "customer"
STORED_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"
"""How PynamoDB writes a time (data-model 1): fixed width, so string order is time order."""


@dataclass(frozen=True)
class MailJob:
    """One email to send, as the mail queue carries it (closeloop.services.mail_jobs for the JSON).

    `trigger_at` is the time of the change that made the email due (the assignment, the timer step,
    the reply, the failed attempt), so a retried trigger names the same ledger item; `to` is a staff
    id, `managers` or `customer`; `step` is the timer step of a reminder or an escalation.
    """

    kind: str
    thread_id: str
    trigger_at: str
    to: str
    step: str | None = None

    def message_key(self, recipient: str | None = None) -> str:
        """The ledger key of the email to one recipient: `"<trigger time>#<kind>[-<n>][-<staff id>]"`."""
        name = self.kind
        if self.step and self.kind == ESCALATE_JOB:
            name = f"{name}-{escalation_number(self.step)}"
        if recipient:
            name = f"{name}-{recipient}"
        return f"{self.trigger_at}#{name}"


def stored_time(value: datetime | str) -> str:
    """A time as the tables store it (UTC, fixed width), from a datetime or any ISO-8601 string."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(STORED_TIME)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_last_timer(value: Any) -> tuple[str, str] | None:
    """(step, at) of `last_timer` = `"<step>@<at>"`; None when absent or malformed."""
    if not isinstance(value, str) or "@" not in value:
        return None
    step, _, at = value.partition("@")
    try:
        escalation_number(step)
    except ValueError:
        return None
    return (step, at) if _time(at) else None


def _fallback_due(new: Mapping[str, Any], old: Mapping[str, Any], opened: bool, threshold: int) -> bool:
    if new.get("first_exchange_at") or new.get("status") == "closed" or new.get("fallback_at"):
        return False
    if opened and new.get("has_phone") is False:
        return True
    before, after = _number(old.get("failed_attempt_count")), _number(new.get("failed_attempt_count"))
    return before < threshold <= after


def case_changes(
    event_id: str,
    event_name: str,
    new: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
    occurred_at: str,
    *,
    fallback_after: int,
) -> tuple[list[MailJob], list[DomainEvent]]:
    """The mail jobs and domain events of one Cases stream record (INSERT, MODIFY or REMOVE)."""
    if not new or not new.get("status") or not new.get("category"):
        return [], []  # removed, or a key-only image (moto streams one before a transaction's item)
    opened = event_name == "INSERT" or not old or not old.get("status")
    before: Mapping[str, Any] = {} if opened else (old or {})
    case_id = str(new.get("case_id"))
    category = new.get("category")
    assignee = new.get("assignee_id")
    jobs: list[MailJob] = []
    events: list[DomainEvent] = []

    def event(name: str, **detail: Any) -> None:
        envelope = {"event_id": f"{event_id}:{name}", "occurred_at": occurred_at, "schema": SCHEMA}
        events.append(DomainEvent(name, {**envelope, "case_id": case_id, **detail}))

    def at(name: str) -> str:
        return stored_time(_time(new.get(name)) or _time(new.get("updated_at")) or occurred_at)

    if opened:
        event(
            CASE_OPENED,
            contact_id=new.get("contact_id"),
            wave_id=new.get("wave_id"),
            category=category,
            confirmed=new.get("confirmed", True) is not False,
            assignee_id=assignee,
            due_at=new.get("due_at"),
        )
    elif assignee != before.get("assignee_id"):
        event(
            CASE_ASSIGNED,
            assignee_id=assignee,
            previous_assignee_id=before.get("assignee_id"),
            assignment=new.get("assignment"),
        )
    if assignee and assignee != before.get("assignee_id") and new.get("status") != "closed":
        jobs.append(MailJob(NOTIFY_ASSIGNED, case_id, at("assigned_at"), str(assignee)))

    if _fallback_due(new, before, opened, fallback_after):
        trigger = "opened_at" if opened and new.get("has_phone") is False else "last_attempt_at"
        jobs.append(MailJob(FALLBACK, case_id, at(trigger), CUSTOMER))

    fired = parse_last_timer(new.get("last_timer"))
    if fired and new.get("last_timer") != before.get("last_timer"):
        step, step_at = fired
        number = escalation_number(step)
        pending = not new.get("first_exchange_at") and new.get("status") != "closed"
        if step == REMIND:
            if pending:
                jobs.append(MailJob(REMIND_JOB, case_id, stored_time(step_at), str(assignee or MANAGERS), step))
        else:
            if pending:
                jobs.append(MailJob(ESCALATE_JOB, case_id, stored_time(step_at), MANAGERS, step))
            event(CASE_OVERDUE, category=category, assignee_id=assignee, days_overdue=number - 1)

    first = new.get("first_exchange_at")
    if first and not before.get("first_exchange_at"):
        first_at, due = _time(first), _time(new.get("due_at"))
        within = first_at is not None and due is not None and first_at <= due
        event(CASE_FIRST_EXCHANGE, category=category, kind=new.get("first_exchange_kind"), within_sla=within)
    if new.get("second_exchange_at") and not before.get("second_exchange_at"):
        event(CASE_SECOND_EXCHANGE, category=category, kind=new.get("second_exchange_kind"))
    if new.get("status") == "closed" and before.get("status") != "closed":
        event(CASE_CLOSED, category=category, close_reason=new.get("close_reason"), promise=new.get("promise"))
    return jobs, events

"""The mailer: case and staff emails from the mail queue, each sent at most once (docs/data-model.md
7.2; docs/callbacks.md "Case and staff emails", "The fallback email").

A job (closeloop.services.mail_jobs) names a case, a kind and a recipient (a staff member, the
managers, the customer). For each email the mailer renders first, then CLAIMS the email's ledger
item in Messages at a key computed from the job alone (`"<trigger time>#<kind>[-<n>][-<staff id>]"`)
with a conditional write, then sends through SES with `X-Closeloop-Ref: msg:<case id>:<key>`, then
settles the item (`sent`, `deferred`, `failed`, `uncertain`). The fallback's claim is one
transaction with the case's `fallback_at` guard (one fallback per case, whatever triggered it),
its reply token and a check that the address is not suppressed.

A job delivered twice finds its ledger item claimed and sends nothing: an item still `sending`
after the function's timeout is marked `uncertain` (it may have gone) and never sent again; one
`sending` more recently is left to whoever claimed it (the message comes back later). A reminder
or an escalation whose case had its first exchange (or was closed) meanwhile ends `skipped`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from closeloop import clock
from closeloop.mail.case_mail import CaseEmail, case_mime, render_fallback_email, render_staff_email
from closeloop.mail.outbound import SendOutcomeUnknown, SendRefused, classify, send_raw
from closeloop.mail.survey import RenderError
from closeloop.models import Case, Contact, Message, Staff, Suppression
from closeloop.models.transact import update_request
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.rules.case_events import ESCALATE_JOB, FALLBACK, MANAGERS, NOTIFY_ASSIGNED, REMIND_JOB, MailJob
from closeloop.rules.sla import escalation_number
from closeloop.services.mail_jobs import from_body
from closeloop.tokens import generate_reply_token, reply_token_hash, reply_token_item

CONDITION_FAILED = "ConditionalCheckFailed"
CONDITION_FAILED_EXCEPTION = "ConditionalCheckFailedException"
CLAIM_TIMEOUT = timedelta(seconds=60)
"""Twice the mailer's timeout: a claim older than this was made by an invocation that is over."""
MANAGERS_CACHE_SECONDS = 300.0
TIMER_KINDS = frozenset({REMIND_JOB, ESCALATE_JOB})


class SendLater(Exception):
    """The email cannot go now (SES throttled it, or another delivery holds its claim): the
    message goes back to the queue and comes again."""


@dataclass
class Recipient:
    suffix: str | None  # ledger key suffix: the staff id when one job mails several people
    staff: Staff | None = None


# ------------------------------------------------------------------ managers, cached


_managers: list[tuple[float, list[Staff]]] = []
_managers_lock = threading.Lock()


def managers() -> list[Staff]:
    """Active managers (Staff Scan filtered on the group), read at most every 5 minutes."""
    now = time.monotonic()
    with _managers_lock:
        if _managers and now - _managers[0][0] < MANAGERS_CACHE_SECONDS:
            return _managers[0][1]
    found = sorted(
        Staff.scan((Staff.groups.contains("manager")) & (Staff.active == True)),  # noqa: E712 - an expression
        key=lambda staff: str(staff.staff_id),
    )
    with _managers_lock:
        _managers[:] = [(now, found)]
    return found


def forget() -> None:
    """Drop the cached managers (tests, the local runtime's caches)."""
    with _managers_lock:
        _managers.clear()


# ------------------------------------------------------------------ the ledger


def _message(job: MailJob, key: str, *, now: datetime, state: str, **extra: Any) -> Message:
    return Message(
        job.thread_id,
        key,
        direction="out",
        kind=job.kind,
        at=datetime.fromisoformat(job.trigger_at),
        message_id=key.partition("#")[2],
        state=state,
        claimed_at=now if state == "sending" else None,
        **extra,
    )


def _claim_condition() -> Any:
    return Message.message_key.does_not_exist() | (Message.state == "deferred")


def _transact(
    *,
    checks: Sequence[dict[str, Any]] = (),
    puts: Sequence[dict[str, Any]] = (),
    updates: Sequence[dict[str, Any]] = (),
) -> list[str | None] | None:
    """One transaction: None when written, else the cancellation codes (checks, puts, updates)."""
    connection = Message._get_connection().connection
    for attempt in range(5):
        try:
            connection.transact_write_items(
                condition_check_items=list(checks), delete_items=[], put_items=list(puts), update_items=list(updates)
            )
            return None
        except TransactWriteError as error:
            reasons = list(error.cancellation_reasons or [])
            codes = [reason.code if reason is not None else None for reason in reasons]
            if CONDITION_FAILED in codes:
                return codes
            if attempt == 4:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def _existing(job: MailJob, key: str) -> str:
    """A claim was refused: what the ledger item says, an old `sending` marked uncertain."""
    try:
        item = Message.get(job.thread_id, key, consistent_read=True)
    except Message.DoesNotExist:
        return "missing"
    state = str(item.state)
    if state != "sending":
        return state
    now = clock.now()
    if item.claimed_at is not None and now - item.claimed_at < CLAIM_TIMEOUT:
        raise SendLater(f"email {key} is being sent by another delivery")
    try:
        Message(job.thread_id, key).update(
            actions=[Message.state.set("uncertain"), Message.updated_at.set(now)],
            condition=Message.state == "sending",
        )
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED_EXCEPTION:
            raise
        return "settled"
    metrics.add_metric(name="case_mail_uncertain", unit=MetricUnit.Count, value=1)
    logger.warning(
        "email claimed before and never settled: uncertain", extra={"kind": job.kind, "case_id": job.thread_id}
    )
    return "uncertain"


def _record(job: MailJob, key: str, state: str, **values: Any) -> None:
    """Settle a claimed item (its condition: still `sending`, ours)."""
    actions: list[Action] = [Message.state.set(state), Message.updated_at.set(clock.now())]
    actions += [getattr(Message, name).set(value) for name, value in values.items() if value is not None]
    try:
        Message(job.thread_id, key).update(actions=actions, condition=Message.state == "sending")
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED_EXCEPTION:
            raise
        logger.warning("ledger item settled by someone else", extra={"kind": job.kind, "state": state})


def _skip(job: MailJob, key: str, reason: str) -> str:
    """An email that will not go: its ledger item says why (once; an existing item stays)."""
    try:
        _message(job, key, now=clock.now(), state="skipped", skip_reason=reason).save(
            condition=Message.message_key.does_not_exist()
        )
    except PutError as error:
        if error.cause_response_code != CONDITION_FAILED_EXCEPTION:
            raise
    metrics.add_metric(name=f"case_mail_skipped_{reason}", unit=MetricUnit.Count, value=1)
    logger.info("email skipped", extra={"kind": job.kind, "case_id": job.thread_id, "reason": reason})
    return "skipped"


# ------------------------------------------------------------------ sending


def _send(job: MailJob, key: str, email: CaseEmail) -> str:
    """Send a claimed email once and settle its item."""
    context = {"kind": job.kind, "case_id": job.thread_id, "key": key}
    try:
        raw = case_mime(email)
    except RenderError as error:
        _record(job, key, "failed")
        logger.error("case email not built", extra={**context, "why": error.args[0]})
        return "failed"
    try:
        message_id = send_raw(raw, to=email.to)
    except SendRefused as refused:
        if refused.throttled:
            _record(job, key, "deferred")
            raise SendLater(f"SES throttled email {key}") from refused
        _record(job, key, "failed")
        logger.error("SES refused a case email", extra={**context, "code": refused.code})
        return "failed"
    except SendOutcomeUnknown as unknown:
        _record(job, key, "uncertain")
        logger.error("no answer from SES", extra={**context, "code": unknown.code})
        return "uncertain"
    except Exception as error:  # noqa: BLE001 - whatever it was, the email may have gone
        _record(job, key, "uncertain")
        logger.error("case email call failed", extra={**context, "code": classify(error).code})
        return "uncertain"
    _record(job, key, "sent", sent_at=clock.now(), ses_message_id=message_id)
    metrics.add_metric(name=f"case_mail_sent_{job.kind}", unit=MetricUnit.Count, value=1)
    logger.info("case email sent", extra=context)
    return "sent"


def _staff_email(job: MailJob, key: str, case: Case, staff: Staff) -> str:
    now = clock.now()
    assignee_name = ""
    if job.kind == ESCALATE_JOB and case.assignee_id:
        assignee = _staff(str(case.assignee_id))
        assignee_name = str(assignee.name) if assignee else ""
    try:
        email = render_staff_email(
            job.kind,
            to=str(staff.email),
            language=str(staff.language),
            case_id=job.thread_id,
            message_key=key,
            category=str(case.category),
            score=case.score,
            confirmed=case.confirmed is not False,
            due_at=case.due_at,
            recipient_name=str(staff.name or ""),
            assignee_name=assignee_name,
            days_overdue=escalation_number(job.step) - 1 if job.kind == ESCALATE_JOB and job.step else 0,
        )
    except RenderError as error:
        logger.error("staff email not rendered", extra={"kind": job.kind, "why": error.args[0]})
        return _skip(job, key, "render")
    claim = _message(
        job,
        key,
        now=now,
        state="sending",
        recipient="staff",
        staff_id=str(staff.staff_id),
        template=f"case_{job.kind}",
        language=email.language,
    )
    try:
        claim.save(condition=_claim_condition())
    except PutError as error:
        if error.cause_response_code != CONDITION_FAILED_EXCEPTION:
            raise
        return _existing(job, key)
    return _send(job, key, email)


def _fallback(job: MailJob, key: str, case: Case) -> str:
    """The fallback email to the customer, claimed with the case's guard, its reply token and the
    suppression check in one transaction."""
    now = clock.now()
    if case.fallback_at is not None:
        current = _existing_state(job, key)
        if current == "sending":  # a delivery that never settled: wait for it, or mark it uncertain
            return _existing(job, key)
        if current != "deferred":
            logger.info("fallback claimed before for this case", extra={"case_id": job.thread_id})
            return current or "claimed_before"
    try:
        contact = Contact.get(str(case.contact_id))
    except Contact.DoesNotExist:
        contact = None
    if contact is None or contact.erased_at is not None or not contact.email:
        return _skip(job, key, "erased")
    caller = _staff(str(case.assignee_id)) if case.assignee_id else None
    token = generate_reply_token()
    try:
        email = render_fallback_email(
            to=str(contact.email),
            language=str(contact.language or case.language),
            case_id=job.thread_id,
            message_key=key,
            category=str(case.category),
            first_name=contact.first_name,
            last_name=contact.last_name,
            caller_name=str(caller.name) if caller else None,
            reply_token=token,
            called=int(case.attempt_count or 0) > 0,
        )
    except RenderError as error:
        logger.error("fallback email not rendered", extra={"case_id": job.thread_id, "why": error.args[0]})
        return _skip(job, key, "render")
    claim = _message(
        job,
        key,
        now=now,
        state="sending",
        recipient="customer",
        template=f"case_fallback.{case.category}",
        language=email.language,
        reply_token_hash=reply_token_hash(token),
        subject=email.subject[:200],
        body=email.text,
    )
    checks = []
    if contact.email_hash:
        checks.append(
            Suppression.get_operation_kwargs_from_class(
                str(contact.email_hash), condition=Suppression.email_hash.does_not_exist()
            )
        )
    token_put = reply_token_item(token, "case", job.thread_id, step="fallback").get_save_kwargs_from_instance(
        condition=None
    )
    guard_actions = [Case.fallback_at.set(now), Case.updated_at.set(now), Case.version.add(1)]
    cid = correlation_id()
    if cid:
        guard_actions.append(Case.correlation_id.set(cid))
    guard = update_request(
        Case,
        job.thread_id,
        guard_actions,
        Case.fallback_at.does_not_exist() & Case.first_exchange_at.does_not_exist() & (Case.status != "closed"),
    )
    puts = [claim.get_save_kwargs_from_instance(condition=_claim_condition()), token_put]
    updates = [guard] if case.fallback_at is None else []
    codes = _transact(checks=checks, puts=puts, updates=updates)
    if codes is not None:
        suppressed = bool(checks) and codes[0] == CONDITION_FAILED
        ledger = codes[len(checks)] == CONDITION_FAILED
        if suppressed and not ledger:
            return _skip(job, key, "suppressed")
        if ledger:
            return _existing(job, key)
        logger.info(
            "fallback not due any more (sent for this case, or exchange made)", extra={"case_id": job.thread_id}
        )
        return "not_due"
    return _send(job, key, email)


def _existing_state(job: MailJob, key: str) -> str | None:
    try:
        return str(Message.get(job.thread_id, key, consistent_read=True).state)
    except Message.DoesNotExist:
        return None


def _staff(staff_id: str) -> Staff | None:
    try:
        return Staff.get(staff_id)
    except Staff.DoesNotExist:
        return None


def _recipients(job: MailJob) -> list[Recipient]:
    if job.to == MANAGERS:
        return [Recipient(str(staff.staff_id), staff) for staff in managers()]
    staff = _staff(job.to)
    return [Recipient(None, staff)]


def send_job(job: MailJob) -> dict[str, str]:
    """Every email of one job, at most once each; their outcome by ledger key."""
    try:
        case = Case.get(job.thread_id, consistent_read=True)
    except Case.DoesNotExist:
        logger.error("mail job of a case that does not exist", extra={"kind": job.kind, "case_id": job.thread_id})
        return {}
    if job.kind == FALLBACK:
        key = job.message_key()
        if case.first_exchange_at is not None or case.status == "closed":
            return {key: _skip(job, key, "exchanged")}
        return {key: _fallback(job, key, case)}
    outcomes: dict[str, str] = {}
    for recipient in _recipients(job):
        key = job.message_key(recipient.suffix)
        staff = recipient.staff
        if job.kind in TIMER_KINDS and (case.first_exchange_at is not None or case.status == "closed"):
            outcomes[key] = _skip(job, key, "exchanged")
        elif job.kind == NOTIFY_ASSIGNED and case.assignee_id != job.to:
            outcomes[key] = _skip(job, key, "reassigned")
        elif staff is None or not staff.active or not staff.email:
            outcomes[key] = _skip(job, key, "no_staff")
        else:
            outcomes[key] = _staff_email(job, key, case, staff)
    if not outcomes:
        logger.warning("no one to send a case email to", extra={"kind": job.kind, "case_id": job.thread_id})
    return outcomes


# ------------------------------------------------------------------ the queue

_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def process_mail_queue(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The mailer's handler: each message on its own, failures (SendLater included) reported per
    message so that only they come back."""

    def record_handler(record: SQSRecord) -> None:
        send_job(from_body(record.body))

    return process_partial_response(event=event, record_handler=record_handler, processor=_processor, context=context)

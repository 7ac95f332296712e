"""SES events of survey emails (docs/inbound-mail.md "SES events"): what SES did with each email.

The sending configuration set publishes Send, Delivery, Bounce, Complaint and Reject events to
EventBridge, one event per invocation of `ses_events`, each event at least once (Lambda retries an
asynchronous invocation that fails). An event names its email by the headers every survey email
carries, `X-Closeloop-Invitation` and `X-Closeloop-Step`. A case or staff email carries
`X-Closeloop-Ref: msg:<thread id>:<message key>` instead: any event proving SES accepted it settles
its `uncertain` ledger item in Messages as `sent` (docs/data-model.md 7.2). An event of any other
email (a staff test-send) is counted and left alone.

- Delivery: the step's `delivered_at`, the invitation's `delivered_at` (the first delivery, or a
  response before it, wins) and status `delivered` where it was `sent` or `uncertain`.
- Bounce: `Permanent` suppresses the address (reason `bounce`, source `ses`) and marks the
  invitation `bounced_at`, `bounce_type`, status `bounced`; `Transient` and `Undetermined` are
  recorded (`bounce_type`) and suppress nothing.
- Complaint: suppresses the address (reason `complaint`) and marks `complained_at`.
- Reject: counted and logged; SES sent nothing.
- Any event but a Reject settles an `uncertain` step (docs/dispatch.md "Uncertain, and how it gets
  settled"): the ledger's outcome becomes `sent` with SES's message id, on the condition that it
  is still `uncertain`; dispatch_ledger then moves the invitation and the wave's counts.

Every write is conditional on what was read, and each step records each kind of event once
(`<step>.delivered_at`, `<step>.bounce_type`, `<step>.complained_at`), so the same event twice
changes nothing and counts nothing twice. An event of an invitation that does not exist (erased,
another stage) is logged and dropped: retrying it could never succeed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from closeloop import clock
from closeloop.models import Invitation, Message, SendBatch
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.secrets import email_hash
from closeloop.services.unsubscribe import suppress

INVITATION_HEADER = "x-closeloop-invitation"
REF_HEADER = "x-closeloop-ref"
REF = re.compile(r"^msg:([a-z2-7]{26}):(\S{10,200})$")
STEP_HEADER = "x-closeloop-step"
INVITATION_ID = re.compile(r"^[a-z2-7]{26}$")
STEPS = ("first", "reminder")
KINDS = {
    "Email Sent": "Send",
    "Email Delivered": "Delivery",
    "Email Bounced": "Bounce",
    "Email Complaint Received": "Complaint",
    "Email Rejected": "Reject",
}
BOUNCE_TYPES = ("Permanent", "Transient", "Undetermined")
SETTLING = frozenset({"Send", "Delivery", "Bounce", "Complaint"})
"""Events that prove SES accepted the email: each settles an uncertain step."""
DELIVERED_FROM = frozenset({"sent", "uncertain"})
BOUNCED_FROM = frozenset({"sent", "uncertain", "delivered"})
ATTEMPTS = 3
"""Reads and conditional writes of one invitation, when it changed between the two."""
CONDITION_FAILED = "ConditionalCheckFailedException"
READ = ["invitation_id", "wave_id", "status", "email_hash", "bounce_type", "first", "reminder"]

Outcome = str
"""What became of an event: `delivered`, `bounced`, `soft_bounce`, `complained`, `sent`,
`rejected`, `repeated` (applied before), `not_survey`, `unknown_invitation`, `unreadable`."""


@dataclass(frozen=True)
class SesEvent:
    """The parts of an SES event that matter here; never an address in a log."""

    kind: str  # Send, Delivery, Bounce, Complaint, Reject
    message_id: str | None
    at: datetime
    invitation_id: str | None
    step: str | None
    recipients: tuple[str, ...]
    bounce_type: str | None = None
    ref: tuple[str, str] | None = None  # (thread_id, message_key) of a case or staff email


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _time(value: Any, now: datetime) -> datetime:
    """An SES timestamp (ISO-8601, `Z`), never later than the domain clock's now; now if unreadable."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return now
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return min(parsed, now)


def _headers(mail: Mapping[str, Any]) -> dict[str, str]:
    """The email's headers as SES copied them, names lower-cased (the first of a repeated name)."""
    found: dict[str, str] = {}
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, Mapping) and isinstance(header.get("name"), str):
            found.setdefault(header["name"].strip().lower(), str(header.get("value", "")).strip())
    return found


def _recipients(kind: str, detail: Mapping[str, Any], mail: Mapping[str, Any]) -> tuple[str, ...]:
    """The addresses the event is about (the bounced or complaining ones), else the email's."""
    part = _mapping(detail.get(kind.lower()))
    listed = part.get({"Bounce": "bouncedRecipients", "Complaint": "complainedRecipients"}.get(kind, "recipients"))
    named = [_mapping(r).get("emailAddress") if isinstance(r, Mapping) else r for r in _list(listed)]
    found = tuple(address for address in named if isinstance(address, str) and address)
    return found or tuple(address for address in _list(mail.get("destination")) if isinstance(address, str) and address)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def read_event(event: Mapping[str, Any]) -> SesEvent | None:
    """The SES event an EventBridge event carries; None when it is not one."""
    detail = _mapping(event.get("detail"))
    mail = _mapping(detail.get("mail"))
    kind = str(detail.get("eventType") or KINDS.get(str(event.get("detail-type")), ""))
    if kind not in KINDS.values() or not mail:
        return None
    now = clock.now()
    part = _mapping(detail.get(kind.lower()))
    at = _time(part.get("timestamp") or mail.get("timestamp") or event.get("time"), now)
    headers = _headers(mail)
    invitation_id = headers.get(INVITATION_HEADER, "").lower()
    step = headers.get(STEP_HEADER, "first").lower()
    bounce_type = part.get("bounceType") if kind == "Bounce" else None
    message_id = mail.get("messageId")
    ref = REF.match(headers.get(REF_HEADER, ""))
    return SesEvent(
        kind=kind,
        message_id=str(message_id) if message_id else None,
        at=at,
        invitation_id=invitation_id if INVITATION_ID.match(invitation_id) else None,
        step=step if step in STEPS else None,
        recipients=_recipients(kind, detail, mail),
        bounce_type=(bounce_type if bounce_type in BOUNCE_TYPES else "Undetermined") if kind == "Bounce" else None,
        ref=(ref.group(1), ref.group(2)) if ref else None,
    )


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def handle_ses_event(event: Mapping[str, Any]) -> Outcome:
    """Apply one SES event to its invitation (module doc). Never raises for an event that could
    not succeed on a retry; raises only what a retry may cure (DynamoDB unavailable...)."""
    ses = read_event(event)
    if ses is None:
        _count("ses_events_unmatched")
        logger.warning("not an SES event of the sending configuration set: dropped", extra={"id": event.get("id")})
        return "unreadable"
    context = {"event_type": ses.kind, "ses_message_id": ses.message_id}
    if ses.ref is not None and ses.invitation_id is None:
        return _settle_message(ses, context)
    if ses.invitation_id is None or ses.step is None:
        _count("ses_events_unmatched")
        logger.debug("SES event of an email that is not a survey email", extra=context)
        return "not_survey"
    context.update(invitation_id=ses.invitation_id, step=ses.step)
    if ses.kind == "Reject":
        _count("ses_rejects")
        logger.warning("SES rejected a survey email: nothing was sent", extra=context)
        return "rejected"
    invitation = _read(ses.invitation_id)
    if invitation is None or getattr(invitation, ses.step) is None:
        _count("ses_events_unmatched")
        logger.info("SES event of an invitation not found (erased, or another stage): dropped", extra=context)
        return "unknown_invitation"
    if ses.kind in SETTLING and _settle(invitation, ses):
        _count("ses_uncertain_settled")
        logger.info("uncertain email settled as sent by its SES event", extra=context)
    if ses.kind == "Send":
        _count("ses_sends")
        return "sent"
    if ses.kind == "Delivery":
        return _applied(_delivery, invitation, ses, metric="ses_deliveries", outcome="delivered", context=context)
    if ses.kind == "Complaint":
        _suppress(invitation, ses, "complaint", context)
        return _applied(_complaint, invitation, ses, metric="ses_complaints", outcome="complained", context=context)
    if ses.bounce_type == "Permanent":
        _suppress(invitation, ses, "bounce", context)
        return _applied(_bounce, invitation, ses, metric="ses_bounces_permanent", outcome="bounced", context=context)
    return _applied(_bounce, invitation, ses, metric="ses_bounces_transient", outcome="soft_bounce", context=context)


# ------------------------------------------------------------------ reads and writes


def _read(invitation_id: str) -> Invitation | None:
    try:
        return Invitation.get(invitation_id, consistent_read=True, attributes_to_get=READ)
    except Invitation.DoesNotExist:
        return None


def _step(step: str) -> Any:
    return cast(Any, getattr(Invitation, step))


Plan = Callable[[Invitation, SesEvent], tuple[list[Action], Condition] | None]


def _delivery(invitation: Invitation, ses: SesEvent) -> tuple[list[Action], Condition] | None:
    path = _step(str(ses.step))
    if getattr(invitation, str(ses.step)).delivered_at is not None:
        return None
    actions = [path.delivered_at.set(ses.at), Invitation.delivered_at.set(Invitation.delivered_at | ses.at)]
    if invitation.status in DELIVERED_FROM:
        actions.append(Invitation.status.set("delivered"))
    return actions, path.delivered_at.does_not_exist() & (Invitation.status == invitation.status)


def _bounce(invitation: Invitation, ses: SesEvent) -> tuple[list[Action], Condition] | None:
    path = _step(str(ses.step))
    prior = getattr(invitation, str(ses.step)).bounce_type
    if prior in (ses.bounce_type, "Permanent"):
        return None  # this bounce was recorded, or a permanent one that a softer one never replaces
    bounce_type = str(ses.bounce_type)
    actions: list[Action] = [path.bounce_type.set(bounce_type)]
    if invitation.bounce_type != "Permanent":
        actions.append(Invitation.bounce_type.set(bounce_type))
    if ses.bounce_type == "Permanent":
        actions.append(Invitation.bounced_at.set(Invitation.bounced_at | ses.at))
        if invitation.status in BOUNCED_FROM:
            actions.append(Invitation.status.set("bounced"))
    seen = path.bounce_type.does_not_exist() if prior is None else path.bounce_type == prior
    return actions, seen & (Invitation.status == invitation.status)


def _complaint(invitation: Invitation, ses: SesEvent) -> tuple[list[Action], Condition] | None:
    path = _step(str(ses.step))
    if getattr(invitation, str(ses.step)).complained_at is not None:
        return None
    actions = [path.complained_at.set(ses.at), Invitation.complained_at.set(Invitation.complained_at | ses.at)]
    return actions, path.complained_at.does_not_exist()


def _applied(
    plan: Plan, invitation: Invitation, ses: SesEvent, *, metric: str, outcome: Outcome, context: dict[str, Any]
) -> Outcome:
    """Write the plan's change, conditioned on what it was made from; re-read and plan again when
    the invitation moved meanwhile. The metric counts an event applied, never one repeated."""
    current: Invitation | None = invitation
    for _ in range(ATTEMPTS):
        planned = plan(current, ses) if current is not None else None
        if planned is None:
            logger.info("SES event applied before: nothing changed", extra=context)
            return "repeated"
        actions, condition = planned
        if ses.message_id:  # what dispatch_ledger needs to settle a step the ledger marks uncertain later
            accepted = _step(str(ses.step)).ses_message_id
            actions.append(accepted.set(accepted | ses.message_id))
        actions += _stamp()
        try:
            Invitation._get_connection().update_item(
                invitation.invitation_id, actions=actions, condition=Invitation.invitation_id.exists() & condition
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            current = _read(invitation.invitation_id)
            continue
        _count(metric)
        logger.info("SES event applied", extra={**context, "outcome": outcome})
        return outcome
    raise RuntimeError(f"invitation {ses.invitation_id} kept changing: the event is retried")


def _stamp() -> list[Action]:
    actions: list[Action] = [Invitation.updated_at.set(clock.now())]
    cid = correlation_id()
    if cid:
        actions.append(Invitation.correlation_id.set(cid))
    return actions


def _hash_of(invitation: Invitation, ses: SesEvent) -> str | None:
    """The suppression key: the hash copied onto the invitation at send, else the recipient's."""
    if invitation.email_hash:
        return str(invitation.email_hash)
    return email_hash(ses.recipients[0]) if ses.recipients else None


def _suppress(invitation: Invitation, ses: SesEvent, reason: str, context: dict[str, Any]) -> None:
    """Suppress the address, first reason kept; written before the invitation, so that a crash
    between the two is repaired by the retry, never leaves an address mailable."""
    key = _hash_of(invitation, ses)
    if key is None:
        logger.error("SES event names no address to suppress", extra=context)
        return
    if suppress(key, reason=reason, source="ses", invitation_id=invitation.invitation_id):
        logger.info("address suppressed", extra={**context, "reason": reason})


def _settle(invitation: Invitation, ses: SesEvent) -> bool:
    """An `uncertain` step becomes `sent` on the ledger (docs/dispatch.md); dispatch_ledger moves the
    invitation and the wave's counts from there. True when this event settled it. A step the
    ledger has not reached yet keeps SES's message id instead (`<step>.ses_message_id`, written
    with the event's mark), and dispatch_ledger settles it if the ledger then says `uncertain`."""
    step = getattr(invitation, str(ses.step))
    if step.state != "uncertain" or not step.batch_id:
        return False
    return _settle_uncertain(str(step.batch_id), invitation, ses)


def _settle_uncertain(batch_id: str, invitation: Invitation, ses: SesEvent) -> bool:
    outcome = ["outcomes", invitation.invitation_id]
    actions: list[Action] = [
        Path([*outcome, "state"]).set("sent"),
        Path([*outcome, "settled_by"]).set("ses"),
        Path([*outcome, "error"]).remove(),
    ]
    if ses.message_id:
        actions.append(Path([*outcome, "message_id"]).set(ses.message_id))
    if not invitation.email_hash and ses.recipients:  # a redelivery's mark carries no copy of the address
        hashed = Path([*outcome, "email_hash"])
        actions.append(hashed.set(hashed | email_hash(ses.recipients[0])))
    return _write_ledger(batch_id, actions, Path([*outcome, "state"]) == "uncertain")


def _write_ledger(batch_id: str, actions: list[Action], condition: Condition) -> bool:
    try:
        SendBatch._get_connection().update_item(batch_id, actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == CONDITION_FAILED:
            return False
        raise
    return True


CUSTOMER_MAIL_KINDS = frozenset({"fallback", "close_loop"})


def _settle_message(ses: SesEvent, context: dict[str, Any]) -> Outcome:
    """A case or staff email (X-Closeloop-Ref, docs/data-model.md 7.2 step 4): an `uncertain`
    ledger item in Messages becomes `sent` on any event that proves SES accepted it; a complaint
    or a permanent bounce on an email to a customer suppresses their address, as on a survey."""
    assert ses.ref is not None
    if ses.kind not in SETTLING:
        _count("ses_rejects")
        logger.warning("SES rejected a case email: nothing was sent", extra=context)
        return "rejected"
    thread_id, key = ses.ref
    kind = key.partition("#")[2].partition("-")[0]
    if kind in CUSTOMER_MAIL_KINDS and (ses.kind == "Complaint" or ses.bounce_type == "Permanent"):
        reason = "complaint" if ses.kind == "Complaint" else "bounce"
        if ses.recipients and suppress(
            email_hash(ses.recipients[0]), reason=reason, source="ses", invitation_id=thread_id
        ):
            logger.info("address suppressed", extra={**context, "reason": reason, "kind": kind})
        _count("ses_complaints" if reason == "complaint" else "ses_bounces_permanent")
    actions: list[Action] = [
        Message.state.set("sent"),
        Message.sent_at.set(ses.at),
        Message.updated_at.set(clock.now()),
    ]
    if ses.message_id:
        actions.append(Message.ses_message_id.set(ses.message_id))
    try:
        Message(thread_id, key).update(actions=actions, condition=Message.state == "uncertain")
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
        return "not_survey"  # sent, skipped or gone: nothing to settle
    _count("ses_uncertain_settled")
    logger.info("uncertain case email settled as sent by its SES event", extra=context)
    return "sent"

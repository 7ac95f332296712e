"""Inbound mail (F6 replies, docs/inbound-mail.md): one SES receipt becomes a quarantined mail, an
unsubscribe, an auto-reply logged on the contact, or a reply attached to its survey's thread.

SES stores the raw message under `inbound/<SES message id>` of the inbound bucket, then invokes
the inbound function with the receipt (verdicts, envelope recipients). The decisions, in order:
a spam or virus verdict FAIL; the reply token of a recipient (missing, unknown, expired); the mail
itself (unparseable, too large); an unsubscribe (the mailto address, or a reply that only asks for
it); an auto-reply; else a reply. Every write is conditional on the SES message id (Messages
`attribute_not_exists(message_key)`, Quarantine `attribute_not_exists(quarantine_id)`), so an
event delivered twice writes nothing twice. Logs carry ids and reasons only.

A reply whose thread has a callback case (its token is the case's, or the invitation's of a
response that opened one) is attached to the case too: `reply_count`, `last_reply_at`, and the
case's first exchange (kind `reply`, with its delays) when it had none (docs/callbacks.md
"Exchanges").
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import Any, Literal
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.exceptions import CancellationReason, DoesNotExist, PutError, TransactWriteError

from closeloop import aws, clock
from closeloop.errors import NotFound
from closeloop.models import Case, Contact, Invitation, Message, Quarantine, ReplyToken
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.rules.inbound_mail import (
    MAX_MAIL_BYTES,
    InboundMail,
    UnparseableMail,
    parse_mail,
    route_address,
    unsubscribe_intent,
)
from closeloop.rules.sla import business_calendar, delays
from closeloop.secrets import email_hash
from closeloop.services import unsubscribe
from closeloop.settings import get_settings
from closeloop.tokens import reply_token_hash

INBOUND_PREFIX = "inbound/"
QUARANTINE_PREFIX = "quarantine/"
SUBJECT_CHARS = 200
ATTEMPTS = 5
"""Tries of a transaction cancelled by a conflict (a consumer: then the event fails and SES's
asynchronous invocation retries it)."""
CONDITION_FAILED = "ConditionalCheckFailed"
VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")

Outcome = Literal["reply", "auto_reply", "unsubscribe", "quarantined", "repeated", "ignored"]
Action = Literal["reply", "unsubscribe"]

_SES_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_AT = UTCDateTimeAttribute()


class MalformedEvent(ValueError):
    """The event is not an SES receipt this function can act on (nothing to retry)."""


class TokenRefused(Exception):
    """A reply token that routes nowhere: `reason` is the quarantine reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Receipt:
    """What the SES receipt event says of one mail (its raw message is in S3)."""

    message_id: str
    received_at: datetime
    recipients: tuple[str, ...]
    verdicts: dict[str, str]
    subject: str | None = None  # the Subject header as SES read it, for a mail never parsed
    from_address: str | None = None

    @property
    def at(self) -> str:
        return str(_AT.serialize(self.received_at))

    @property
    def message_key(self) -> str:
        return f"{self.at}#{self.message_id}"

    @property
    def inbound_key(self) -> str:
        return f"{INBOUND_PREFIX}{self.message_id}"

    def failed(self, verdict: str) -> bool:
        return self.verdicts.get(verdict) == "FAIL"


@dataclass(frozen=True)
class Thread:
    """Where a reply token leads: the thread of one survey, its invitation and its case if the
    response opened one (thread_id = invitation_id = case_id)."""

    thread_id: str
    invitation: Invitation
    case_id: str | None = None
    case: Case | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Route:
    action: Action
    thread: Thread


@dataclass
class _Raw:
    size: int
    body: Any = field(default=None, repr=False)  # the S3 stream, not read yet

    def read(self) -> bytes:
        data = self.body.read(MAX_MAIL_BYTES + 1)
        self.body.close()
        return bytes(data)

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


# ------------------------------------------------------------------ the event


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo else None


def read_receipt(record: Mapping[str, Any]) -> Receipt:
    """The receipt of one record of an SES Lambda action event; MalformedEvent when it is not one."""
    ses = record.get("ses") if isinstance(record, Mapping) else None
    mail = ses.get("mail") if isinstance(ses, Mapping) else None
    receipt = ses.get("receipt") if isinstance(ses, Mapping) else None
    if not isinstance(mail, Mapping) or not isinstance(receipt, Mapping):
        raise MalformedEvent("not an SES receipt record")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not _SES_ID.match(message_id):
        raise MalformedEvent("no usable SES message id")
    recipients = receipt.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        recipients = mail.get("destination")
    addresses = tuple(item for item in recipients or [] if isinstance(item, str))
    verdicts = {}
    for name in VERDICTS:
        verdict = receipt.get(f"{name}Verdict")
        status = verdict.get("status") if isinstance(verdict, Mapping) else None
        if isinstance(status, str):
            verdicts[name] = status.upper()
    received_at = _time(receipt.get("timestamp")) or _time(mail.get("timestamp")) or clock.now()
    common = mail.get("commonHeaders")
    common = common if isinstance(common, Mapping) else {}
    senders = common.get("from")
    first_sender = senders[0] if isinstance(senders, list) and senders and isinstance(senders[0], str) else None
    return Receipt(
        message_id=message_id,
        received_at=received_at,
        recipients=addresses,
        verdicts=verdicts,
        subject=_text(common.get("subject")),
        from_address=_address(first_sender) or _address(_text(mail.get("source"))),
    )


def _address(header: str | None) -> str | None:
    if not header:
        return None
    for _name, address in getaddresses([header]):
        if "@" in address:
            return address.strip().lower()
    return None


def _subject(value: str | None) -> str | None:
    if not value:
        return None
    return " ".join(_CONTROL.sub(" ", value).split())[:SUBJECT_CHARS] or None


# ------------------------------------------------------------------ routing (data-model 6.2)


def resolve_thread(token: str) -> Thread:
    """The thread a reply token leads to; TokenRefused with the quarantine reason otherwise.

    Both kinds of token name the thread's 26-character id: an `invitation` token (survey emails)
    the invitation, a `case` token (the fallback email) the case, whose id is the same. Either
    leads to the invitation and, when the response opened one, to the case.
    """
    try:
        item = ReplyToken.get(reply_token_hash(token))
    except DoesNotExist:
        raise TokenRefused("unknown_token") from None
    if item.expires_at is not None and item.expires_at <= clock.now():
        raise TokenRefused("expired_token")
    try:
        invitation = Invitation.get(item.object_id)
    except DoesNotExist:
        raise TokenRefused("unknown_token") from None
    try:
        case: Case | None = Case.get(item.object_id)
    except DoesNotExist:
        case = None
    return Thread(
        thread_id=invitation.invitation_id,
        invitation=invitation,
        case_id=case.case_id if case is not None else None,
        case=case,
    )


def route(recipients: Sequence[str]) -> Route | str:
    """The first recipient on the reply domain whose token leads to a thread, or the quarantine
    reason: `no_token` when none carries a token, else `expired_token` or `unknown_token`."""
    domain = get_settings().reply_domain.strip().lower()
    refused: list[str] = []
    for address in recipients:
        _local, at, host = address.strip().rpartition("@")
        if not at or host.lower() != domain:
            continue
        routed = route_address(address.strip())
        if routed is None:
            continue
        action, token = routed
        try:
            return Route(action, resolve_thread(token))
        except TokenRefused as refusal:
            refused.append(refusal.reason)
    if not refused:
        return "no_token"
    return "expired_token" if "expired_token" in refused else "unknown_token"


# ------------------------------------------------------------------ the use case


def receive_mail(record: Mapping[str, Any]) -> Outcome:
    """Process one record of an SES receipt event (functions/inbound)."""
    try:
        receipt = read_receipt(record)
    except MalformedEvent as error:
        metrics.add_metric(name="inbound_malformed_events", unit=MetricUnit.Count, value=1)
        logger.warning("inbound event ignored", extra={"reason": str(error)})
        return "ignored"
    logger.append_keys(ses_message_id=receipt.message_id)
    raw = None
    try:
        raw = _open(receipt)
        return _decide(receipt, raw)
    finally:
        if raw is not None:
            raw.close()
        logger.remove_keys(["ses_message_id", "invitation_id", "case_id"])


def _decide(receipt: Receipt, raw: _Raw | None) -> Outcome:
    if raw is None:
        metrics.add_metric(name="inbound_mail_missing", unit=MetricUnit.Count, value=1)
        logger.warning("raw mail not found in the bucket")
        return quarantine(receipt, "unparseable", size=0, copy=False)
    for verdict in ("spam", "virus"):
        if receipt.failed(verdict):
            return quarantine(receipt, verdict, size=raw.size)
    routed = route(receipt.recipients)
    if isinstance(routed, str):
        return quarantine(receipt, routed, size=raw.size)
    if raw.size > MAX_MAIL_BYTES:
        return quarantine(receipt, "too_large", size=raw.size)
    try:
        mail = parse_mail(raw.read())
    except UnparseableMail as error:
        return quarantine(receipt, error.reason, size=raw.size)
    thread = routed.thread
    logger.append_keys(invitation_id=thread.invitation.invitation_id, case_id=thread.case_id)
    if routed.action == "unsubscribe":
        return _unsubscribe(receipt, thread, mail, "mailto")
    if mail.auto_reply:
        return _auto_reply(receipt, thread, mail)
    intent = unsubscribe_intent(mail.text, mail.subject)
    if intent == "unsubscribe":
        return _unsubscribe(receipt, thread, mail, "reply")
    return _reply(receipt, thread, mail, mentions_unsubscribe=intent == "mention")


def _open(receipt: Receipt) -> _Raw | None:
    """The raw mail SES stored (its size, its body not read yet); None when it is not there."""
    try:
        found = aws.client("s3").get_object(Bucket=get_settings().inbound_bucket, Key=receipt.inbound_key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise
    return _Raw(size=int(found.get("ContentLength") or 0), body=found["Body"])


# ------------------------------------------------------------------ quarantine


def _month(at: datetime) -> str:
    return at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m")


def quarantine(receipt: Receipt, reason: str, *, size: int, copy: bool = True) -> Outcome:
    """Keep the mail out of every queue: its raw copy under quarantine/ (30-day lifecycle) and a
    Quarantine item with its reason, written once per SES message id."""
    settings = get_settings()
    s3_key: str | None = f"{QUARANTINE_PREFIX}{receipt.message_id}"
    if copy:
        try:
            aws.client("s3").copy_object(
                Bucket=settings.inbound_bucket,
                Key=s3_key,
                CopySource={"Bucket": settings.inbound_bucket, "Key": receipt.inbound_key},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in {"NoSuchKey", "404", "NotFound"}:
                raise
            s3_key = None
    else:
        s3_key = None
    item = Quarantine(
        receipt.message_id,
        reason=reason,
        s3_key=s3_key,
        received_at=receipt.received_at,
        received_month=_month(receipt.received_at),
        from_hash=email_hash(receipt.from_address) if receipt.from_address else None,
        sender=_subject(receipt.from_address),
        subject=_subject(receipt.subject),
        size=size,
        expires_at=receipt.received_at + timedelta(days=settings.quarantine_keep_days),
    )
    try:
        item.save(condition=Quarantine.quarantine_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        logger.info("mail quarantined before: nothing written", extra={"reason": reason})
        metrics.add_metric(name="inbound_repeated", unit=MetricUnit.Count, value=1)
        return "repeated"
    metrics.add_metric(name="inbound_quarantined", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"inbound_quarantined_{reason}", unit=MetricUnit.Count, value=1)
    logger.info("mail quarantined", extra={"reason": reason})
    return "quarantined"


# ------------------------------------------------------------------ messages


def _message(receipt: Receipt, thread: Thread, mail: InboundMail, kind: str, **extra: Any) -> Message:
    sender_hash = email_hash(mail.from_address) if mail.from_address else None
    return Message(
        thread.thread_id,
        receipt.message_key,
        direction="in",
        kind=kind,
        at=receipt.received_at,
        message_id=receipt.message_id,
        s3_key=receipt.inbound_key,
        subject=_subject(mail.subject),
        body=mail.text or None,
        attachment_names=list(mail.attachment_names) or None,
        from_hash=sender_hash,
        from_contact=sender_hash is not None and sender_hash == thread.invitation.email_hash,
        verdicts={name: value for name, value in receipt.verdicts.items() if name in ("spam", "virus", "spf", "dkim")}
        or None,
        **extra,
    )


def _put(message: Message) -> dict[str, Any]:
    request: dict[str, Any] = message.get_save_kwargs_from_instance(condition=Message.message_key.does_not_exist())
    return request


def _stamp(model: type[Invitation] | type[Contact] | type[Case], now: datetime) -> list[Any]:
    actions: list[Any] = [model.updated_at.set(now)]
    cid = correlation_id()
    if cid:
        actions.append(model.correlation_id.set(cid))
    return actions


def _case_update(case: Case, received_at: datetime) -> dict[str, Any]:
    """The case's side of a reply: counted, dated, and the first exchange when it had none (the
    reply came after the response and the case is not closed). `if_not_exists` keeps a call
    logged at the same moment as the first exchange; the SLA timers stop either way."""
    actions: list[Any] = [
        Case.reply_count.add(1),
        Case.last_reply_at.set(received_at),
        *_stamp(Case, clock.now()),
    ]
    if case.first_exchange_at is None and case.status != "closed" and received_at >= case.responded_at:
        settings = get_settings()
        hours, business_hours = delays(business_calendar(settings), case.responded_at, received_at)
        actions += [
            Case.first_exchange_at.set(Case.first_exchange_at | received_at),
            Case.first_exchange_kind.set(Case.first_exchange_kind | "reply"),
            Case.first_delay_h.set(Case.first_delay_h | float(hours)),  # 2 places: float's repr keeps them
            Case.first_delay_bh.set(Case.first_delay_bh | float(business_hours)),
            Case.timer_shard.remove(),
            Case.next_timer_at.remove(),
            Case.next_timer_step.remove(),
        ]
    update: dict[str, Any] = case.get_update_kwargs_from_instance(
        actions=actions, condition=Case.case_id.exists(), add_version_condition=False
    )
    return update


def _reply(receipt: Receipt, thread: Thread, mail: InboundMail, *, mentions_unsubscribe: bool) -> Outcome:
    """The customer's words on the thread, the invitation's `replied_at` / `reply_count` and, when
    the thread has a case, the case's reply counts and first exchange, in one transaction. Without
    a case, or with a flag, the message waits for a person (`attention` open); on a case, its
    assignee is told (message_flow) and reads it there."""
    flags = {"unsubscribe_mention"} if mentions_unsubscribe else set()
    if mail.forwarded:
        flags.add("forwarded")
    attention = "open" if thread.case is None or flags else None
    message = _message(receipt, thread, mail, "reply", flags=flags or None, attention=attention)
    invitation = thread.invitation
    updates = [
        invitation.get_update_kwargs_from_instance(
            actions=[
                Invitation.replied_at.set(Invitation.replied_at | receipt.received_at),
                Invitation.reply_count.add(1),
                *_stamp(Invitation, clock.now()),
            ],
            condition=Invitation.invitation_id.exists(),
            add_version_condition=False,
        )
    ]
    if thread.case is not None:
        updates.append(_case_update(thread.case, receipt.received_at))
    reasons = _transact(puts=[_put(message)], updates=updates)
    if reasons is not None and _failed(reasons, 0):
        return _repeated()
    if reasons is not None:  # an item is gone (erased since the token was read): keep the words
        _transact(puts=[_put(message)], updates=[item for n, item in enumerate(updates) if not _failed(reasons, n + 1)])
    metrics.add_metric(name="inbound_replies", unit=MetricUnit.Count, value=1)
    if thread.case is not None:
        metrics.add_metric(name="inbound_case_replies", unit=MetricUnit.Count, value=1)
    logger.info("reply attached", extra={"flags": sorted(flags), "thread_id": thread.thread_id})
    return "reply"


def _auto_reply(receipt: Receipt, thread: Thread, mail: InboundMail) -> Outcome:
    """Logged on the thread (no attention) and on the contact's `last_auto_reply_at`: not a reply."""
    message = _message(receipt, thread, mail, "auto_reply")
    contact = Contact(thread.invitation.contact_id)
    update = contact.get_update_kwargs_from_instance(
        actions=[Contact.last_auto_reply_at.set(receipt.received_at), *_stamp(Contact, clock.now())],
        condition=Contact.contact_id.exists(),
        add_version_condition=False,
    )
    reasons = _transact(puts=[_put(message)], updates=[update])
    if reasons is not None and _failed(reasons, 0):
        return _repeated()
    if reasons is not None:  # the contact is gone: the log on the thread is enough
        _transact(puts=[_put(message)])
    metrics.add_metric(name="inbound_auto_replies", unit=MetricUnit.Count, value=1)
    logger.info("auto-reply logged", extra={"why": mail.auto_reply})
    return "auto_reply"


def _unsubscribe(receipt: Receipt, thread: Thread, mail: InboundMail, source: unsubscribe.MailSource) -> Outcome:
    """Suppress the address the survey went to, with the mail kept (kind `unsubscribe_request`)."""
    message = _message(receipt, thread, mail, "unsubscribe_request")
    try:
        outcome = unsubscribe.unsubscribe_by_mail(thread.invitation, source, _put(message))
    except NotFound:
        # No address to suppress (erased since): a person must look, the words are kept.
        message.attention = "open"
        if _transact(puts=[_put(message)]) is not None:
            return _repeated()
        logger.warning("unsubscribe mail kept for a person: no address to suppress")
        return "unsubscribe"
    if outcome == "repeated":
        return _repeated()
    metrics.add_metric(name="inbound_unsubscribes", unit=MetricUnit.Count, value=1)
    logger.info("unsubscribed by mail", extra={"source": source, "already_suppressed": outcome == "already"})
    return "unsubscribe"


def _repeated() -> Outcome:
    metrics.add_metric(name="inbound_repeated", unit=MetricUnit.Count, value=1)
    logger.info("mail handled before: nothing written")
    return "repeated"


# ------------------------------------------------------------------ the transaction


def _failed(reasons: Sequence[CancellationReason | None], index: int) -> bool:
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == CONDITION_FAILED


def _transact(
    *,
    puts: Sequence[dict[str, Any]] = (),
    updates: Sequence[dict[str, Any]] = (),
    sleep: Callable[[float], None] | None = None,
) -> list[CancellationReason | None] | None:
    """Write in one transaction: None when written, else the reasons when a condition failed (puts,
    then updates). A conflict is retried with full jitter; after ATTEMPTS the error goes up and
    the asynchronous invocation is retried."""
    connection = Message._get_connection().connection
    for attempt in range(ATTEMPTS):
        try:
            connection.transact_write_items(
                condition_check_items=[], delete_items=[], put_items=list(puts), update_items=list(updates)
            )
            return None
        except TransactWriteError as error:
            reasons = list(error.cancellation_reasons)
            if any(reason is not None and reason.code == CONDITION_FAILED for reason in reasons):
                return reasons
            if attempt + 1 == ATTEMPTS:
                raise
            codes = sorted({reason.code for reason in reasons if reason is not None})
            logger.warning("inbound transaction cancelled", extra={"codes": codes, "attempt": attempt + 1})
            (sleep or time.sleep)(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")

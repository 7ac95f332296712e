"""Sending one batch of survey emails, at most once each (docs/dispatch.md "Sending at most once").

A send-queue message names a batch (at most 10 invitations of one wave step, grouped by the
planner once and for all) and an attempt. The sender reads what it needs in three BatchGetItem
calls, renders every email and stores their reply tokens, then CLAIMS the attempt on the batch's
SendBatches item with one conditional write, before any SES call. Only the claimant sends. Each
email goes out once through SES, paced to this instance's share of the send rate, and the
outcomes are recorded on the ledger in one write after the batch. Invitations SES refused are
deferred: a new attempt of the same batch, with only them, goes back through the queue later.

A message whose attempt is already claimed (SQS redelivery, a duplicate, a retry after a crash)
sends nothing: every invitation of that attempt without a recorded outcome may have been sent,
so it is marked uncertain. The dispatch_ledger consumer copies outcomes onto the invitations
and the wave's counts.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from closeloop import aws, clock
from closeloop.errors import InvalidInput
from closeloop.mail.outbound import SendOutcomeUnknown, SendRefused, classify, send_raw
from closeloop.mail.pacing import Pacer, instance_pacer
from closeloop.mail.survey import RenderError, SurveyEmail, render_survey_email, to_mime
from closeloop.models import Contact, Invitation, ReplyToken, SendBatch, Suppression, Wave
from closeloop.models.send_batch import FINAL_OUTCOMES
from closeloop.observability import MetricUnit, logger, metrics, sqs_attributes
from closeloop.settings import get_settings
from closeloop.tokens import generate_reply_token, reply_token_hash, reply_token_item

MAX_BATCH = 10
WAVE_CACHE_SECONDS = 10.0
TIME_MARGIN_MS = 8_000
"""Stop sending when less than this is left of the invocation: the rest is deferred, not lost."""
CONDITION_FAILED = "ConditionalCheckFailedException"

Outcome = dict[str, Any]


class SendRequest(BaseModel):
    """A send-queue message: the fixed interface between planning and sending."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    batch_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    wave_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    step: Literal["first", "reminder"]
    invitation_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    attempt: int = Field(default=1, ge=1, le=1000)

    @field_validator("invitation_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        for value in ids:
            if len(value) != 26 or not value.isalnum() or value.lower() != value:
                raise ValueError("invitation ids are 26 lower-case base32 characters")
        return list(dict.fromkeys(ids))

    @classmethod
    def from_body(cls, body: str) -> SendRequest:
        """The request a message body holds; InvalidInput (with the reasons) for anything else."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
            raise InvalidInput(f"not a send request: {problems}") from error

    def body(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"))


@dataclass
class BatchResult:
    """What one message did: the outcomes it recorded, or what it marked uncertain."""

    batch_id: str
    attempt: int
    claimed: bool
    outcomes: dict[str, str] = field(default_factory=dict)  # invitation_id -> state
    requeued: list[str] = field(default_factory=list)  # deferred, in the next attempt

    def count(self, state: str) -> int:
        return sum(1 for value in self.outcomes.values() if value == state)


@dataclass
class _Prepared:
    invitation: Invitation
    contact: Contact
    email: SurveyEmail
    raw: bytes

    @property
    def invitation_id(self) -> str:
        return str(self.invitation.invitation_id)


# ------------------------------------------------------------------ the wave, cached briefly

_waves: dict[str, tuple[float, Wave | None]] = {}
_waves_lock = threading.Lock()


def _wave(wave_id: str) -> Wave | None:
    """The wave, read at most every few seconds per container (a cancel takes effect within them)."""
    now = time.monotonic()
    with _waves_lock:
        hit = _waves.get(wave_id)
    if hit is not None and now - hit[0] < WAVE_CACHE_SECONDS:
        return hit[1]
    try:
        wave: Wave | None = Wave.get(wave_id)
    except Wave.DoesNotExist:
        wave = None
    with _waves_lock:
        _waves[wave_id] = (now, wave)
    return wave


def forget() -> None:
    """Drop the cached waves (tests, and the local runtime's caches.forget_all)."""
    with _waves_lock:
        _waves.clear()


# ------------------------------------------------------------------ outcomes


def _outcome(state: str, attempt: int, at: datetime, **details: Any) -> Outcome:
    outcome: Outcome = {"state": state, "attempt": attempt, "at": at.isoformat()}
    outcome.update({key: value for key, value in details.items() if value is not None})
    return outcome


def _path(invitation_id: str) -> Path:
    """The ledger's outcome of one invitation, as an expression path."""
    return cast(Path, SendBatch.outcomes[invitation_id])


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    return dict(value)


def _recorded_in(outcome: dict[str, Any] | None, attempt: int) -> bool:
    """Whether an invitation of `attempt` has its outcome for that attempt on the ledger."""
    if not outcome:
        return False
    if outcome.get("state") in FINAL_OUTCOMES:
        return True
    return outcome.get("state") == "deferred" and int(outcome.get("attempt", 0)) >= attempt


def _skip_reason(
    *,
    wave: Wave,
    invitation: Invitation,
    contact: Contact | None,
    suppressed: set[str],
    step: str,
    now: datetime,
) -> str | None:
    if wave.status == "cancelled":
        return "cancelled"  # a later attempt of a batch claimed before the cancel: it ends here
    if wave.status == "closed" or (wave.closes_at is not None and now >= wave.closes_at):
        return "closed"
    if contact is None or contact.erased_at is not None or not contact.email:
        return "erased"
    if contact.email_hash in suppressed:
        return "suppressed"
    if step == "reminder" and invitation.responded_at is not None:
        return "responded"
    return None


def retry_delay_seconds(attempt: int) -> int:
    """How long deferred invitations wait before attempt `attempt + 1`: 2, 4, 8 ... up to 15 min."""
    base = min(900, 1 << min(attempt, 10))
    return min(900, base + secrets.randbelow(max(1, base // 2) + 1))


# ------------------------------------------------------------------ reads


INVITATION_READ = ["invitation_id", "contact_id", "language", "status", "responded_at", "first", "reminder"]
CONTACT_READ = ["contact_id", "email", "email_hash", "first_name", "last_name", "language", "erased_at"]
"""What the sender reads of an invitation and a contact: no more travels (or is parsed) per email."""


def _read(request: SendRequest) -> tuple[dict[str, Invitation], dict[str, Contact], set[str]]:
    """Invitations, contacts and suppressions: three BatchGetItem calls."""
    invitations = {
        str(item.invitation_id): item
        for item in Invitation.batch_get(
            request.invitation_ids, consistent_read=True, attributes_to_get=INVITATION_READ
        )
    }
    contact_ids = {str(item.contact_id) for item in invitations.values()}
    contacts = (
        {str(item.contact_id): item for item in Contact.batch_get(contact_ids, attributes_to_get=CONTACT_READ)}
        if contact_ids
        else {}
    )
    hashes = {str(contact.email_hash) for contact in contacts.values() if contact.email_hash}
    suppressed = (
        {str(item.email_hash) for item in Suppression.batch_get(hashes, consistent_read=True)} if hashes else set()
    )
    return invitations, contacts, suppressed


# ------------------------------------------------------------------ the ledger


Claim = Literal["claimed", "taken", "cancelled"]


def _claim(request: SendRequest, claim_id: str, early: dict[str, Outcome], now: datetime) -> Claim:
    """Claim this attempt of the batch with one conditional write of its ledger item.

    The item is the one arbiter of a batch: the sender's claim and a cancelled wave's release
    (cancel_unclaimed_batches) both write it only if nobody did before, so exactly one of them wins.
    """
    try:
        if request.attempt == 1:
            SendBatch(
                request.batch_id,
                wave_id=request.wave_id,
                step=request.step,
                invitation_ids=request.invitation_ids,
                attempt=1,
                claim_id=claim_id,
                claimed_at=now,
                outcomes=early,
            ).save(condition=SendBatch.batch_id.does_not_exist())
        else:
            actions: list[Action] = [
                SendBatch.attempt.set(request.attempt),
                SendBatch.claim_id.set(claim_id),
                SendBatch.claimed_at.set(now),
                SendBatch.updated_at.set(now),
                *(_path(key).set(value) for key, value in early.items()),
            ]
            SendBatch(request.batch_id).update(
                actions=actions,
                condition=(SendBatch.attempt < request.attempt) & SendBatch.cancelled_at.does_not_exist(),
            )
    except (PutError, UpdateError) as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
        try:
            current = SendBatch.get(request.batch_id, consistent_read=True)
        except SendBatch.DoesNotExist:
            return "taken"
        if current.cancelled_at is not None:
            return "cancelled"
        if current.claim_id == claim_id and int(current.attempt) == request.attempt:
            return "claimed"  # our own write, retried by botocore after its answer was lost
        return "taken"
    return "claimed"


def cancel_unclaimed_batches(wave_id: str, step: str, batch_ids: Iterable[str]) -> set[str]:
    """For a cancelled wave's release: take every batch no sender has claimed, so that none ever will.

    Returns the batches that are the release's (cancelled now or by an earlier release); the
    others were claimed by a sender first and end with the sender's outcomes.
    """
    now = clock.now()
    cancelled: set[str] = set()
    for batch_id in sorted(set(batch_ids)):
        try:
            SendBatch(batch_id, wave_id=wave_id, step=step, attempt=0, cancelled_at=now).save(
                condition=SendBatch.batch_id.does_not_exist()
            )
            cancelled.add(batch_id)
        except PutError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            if SendBatch.get(batch_id, consistent_read=True).cancelled_at is not None:
                cancelled.add(batch_id)
    return cancelled


def _guarded_write(
    batch_id: str,
    outcomes: dict[str, Outcome],
    allowed: Callable[[str], Condition],
    still_allowed: Callable[[dict[str, Any] | None, Outcome], bool],
) -> None:
    """SET outcomes.<id> for each id, all under their `allowed` conditions, in one write. When it
    is refused (someone recorded meanwhile), re-read and write again the ids `still_allowed`."""
    pending = dict(outcomes)
    for _ in range(5):
        if not pending:
            return
        condition: Condition | None = None
        for key in pending:
            condition = allowed(key) if condition is None else condition & allowed(key)
        try:
            SendBatch(batch_id).update(
                actions=[_path(key).set(value) for key, value in pending.items()],
                condition=condition,
            )
            return
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
        current = _as_dict(SendBatch.get(batch_id, consistent_read=True).outcomes)
        pending = {key: value for key, value in pending.items() if still_allowed(_as_dict(current.get(key)), value)}
    raise RuntimeError(f"the outcomes of batch {batch_id} kept changing under the sender")


def _record(batch_id: str, attempt: int, outcomes: dict[str, Outcome]) -> None:
    """The sender's own outcomes: the truth of its attempt. They replace an uncertain mark of the
    same attempt, never an outcome written by a later attempt."""

    def allowed(key: str) -> Condition:
        path = _path(key)
        condition: Condition = path.does_not_exist() | (path["attempt"] <= attempt)
        return condition

    def still_allowed(current: dict[str, Any] | None, _new: Outcome) -> bool:
        return not current or int(current.get("attempt", 0)) <= attempt

    _guarded_write(batch_id, outcomes, allowed, still_allowed)


def _mark_uncertain(batch_id: str, attempt: int, ids: list[str], now: datetime) -> None:
    """Invitations of a claimed attempt with no outcome of it: they may have been sent. The mark
    never replaces an outcome of this attempt or a final one."""
    marks = {key: _outcome("uncertain", attempt, now, error="redelivered") for key in ids}

    def allowed(key: str) -> Condition:
        path = _path(key)
        condition: Condition = path.does_not_exist() | ((path["attempt"] < attempt) & (path["state"] == "deferred"))
        return condition

    def still_allowed(current: dict[str, Any] | None, _new: Outcome) -> bool:
        return not current or (current.get("state") == "deferred" and int(current.get("attempt", 0)) < attempt)

    _guarded_write(batch_id, marks, allowed, still_allowed)


def _enqueue_next(request: SendRequest, ids: list[str]) -> None:
    """A new attempt of the same batch, with only the deferred invitations, later."""
    following = SendRequest(
        batch_id=request.batch_id,
        wave_id=request.wave_id,
        step=request.step,
        invitation_ids=ids,
        attempt=request.attempt + 1,
    )
    aws.client("sqs").send_message(
        QueueUrl=get_settings().send_queue_url,
        MessageBody=following.body(),
        DelaySeconds=retry_delay_seconds(request.attempt),
        MessageAttributes=sqs_attributes(),
    )


# ------------------------------------------------------------------ one message


def send_batch(
    request: SendRequest,
    *,
    pacer: Pacer | None = None,
    remaining_ms: Callable[[], int] | None = None,
) -> BatchResult:
    """Send the emails of one attempt of one batch, at most once each."""
    context: dict[str, Any] = {
        "wave_id": request.wave_id,
        "batch_id": request.batch_id,
        "step": request.step,
        "attempt": request.attempt,
    }
    now = clock.now()
    wave = _wave(request.wave_id)
    if wave is None or (wave.status == "cancelled" and request.attempt == 1):
        # Never claimed: the wave's release takes the batch (cancel_unclaimed_batches).
        logger.info("wave cancelled or gone: nothing to send", extra=context)
        return BatchResult(request.batch_id, request.attempt, claimed=False)
    invitations, contacts, suppressed = _read(request)

    early: dict[str, Outcome] = {}  # decided before any send: skipped, failed to render
    ready: list[_Prepared] = []
    for invitation_id in request.invitation_ids:
        invitation = invitations.get(invitation_id)
        if invitation is None:
            logger.error("invitation of a send batch not found", extra={**context, "invitation_id": invitation_id})
            continue
        step = getattr(invitation, request.step)
        if step is not None and step.batch_id and step.batch_id != request.batch_id:
            logger.error("invitation belongs to another batch", extra={**context, "invitation_id": invitation_id})
            continue
        if step is not None and step.state in FINAL_OUTCOMES:
            continue  # settled already: nothing to send, nothing to record
        contact = contacts.get(str(invitation.contact_id))
        reason = _skip_reason(
            wave=wave, invitation=invitation, contact=contact, suppressed=suppressed, step=request.step, now=now
        )
        if reason is not None:
            early[invitation_id] = _outcome("skipped", request.attempt, now, skip_reason=reason)
            continue
        assert contact is not None
        try:
            email = render_survey_email(
                wave=wave,
                contact=contact,
                invitation_id=invitation_id,
                step=request.step,
                language=str(invitation.language) if invitation.language else None,
                reply_token=generate_reply_token(),
            )
            raw = to_mime(email)
        except Exception as error:  # noqa: BLE001 - one contact's email never stops the others
            detail = error.args[0] if isinstance(error, RenderError) else type(error).__name__
            logger.error("survey email not rendered", extra={**context, "invitation_id": invitation_id, "why": detail})
            early[invitation_id] = _outcome("failed", request.attempt, now, error="render")
            continue
        ready.append(_Prepared(invitation, contact, email, raw))

    result = BatchResult(request.batch_id, request.attempt, claimed=False)
    if not ready and not early:
        return result

    if ready:  # stored before the claim: a token written for an email never sent is harmless
        with ReplyToken.batch_write() as tokens:
            for prepared in ready:
                token = prepared.email.reply_token
                tokens.save(reply_token_item(token, "invitation", prepared.invitation_id, step=request.step))

    claim_id = uuid.uuid4().hex
    claim = _claim(request, claim_id, early, now)
    if claim == "cancelled":
        logger.info("batch taken by the wave's release: nothing to send", extra=context)
        return result
    if claim == "taken":
        return _settle_redelivery(request, now)
    result.claimed = True
    result.outcomes.update({key: value["state"] for key, value in early.items()})
    before = _as_dict(SendBatch.get(request.batch_id, consistent_read=True).outcomes) if request.attempt > 1 else {}

    outcomes = _send_all(
        request,
        ready=ready,
        before=before,
        wave=wave,
        pacer=pacer or instance_pacer(),
        remaining_ms=remaining_ms,
        context=context,
    )
    _record(request.batch_id, request.attempt, outcomes)
    result.outcomes.update({key: value["state"] for key, value in outcomes.items()})

    deferred = [key for key, value in outcomes.items() if value["state"] == "deferred"]
    if deferred:
        _enqueue_next(request, deferred)
        result.requeued = deferred
    _count(result, outcomes, early)
    logger.info(
        "send batch done",
        extra={**context, **{state: result.count(state) for state in ("sent", "deferred", "failed", "uncertain")}},
    )
    return result


def _send_all(
    request: SendRequest,
    *,
    ready: list[_Prepared],
    before: dict[str, Any],
    wave: Wave,
    pacer: Pacer,
    remaining_ms: Callable[[], int] | None,
    context: dict[str, Any],
) -> dict[str, Outcome]:
    settings = get_settings()
    outcomes: dict[str, Outcome] = {}
    for position, prepared in enumerate(ready):
        key = prepared.invitation_id
        refusals = int(_as_dict(before.get(key)).get("refusals", 0))
        if remaining_ms is not None and remaining_ms() < TIME_MARGIN_MS + 1000 * pacer.seconds_per_send():
            for rest in ready[position:]:
                earlier = int(_as_dict(before.get(rest.invitation_id)).get("refusals", 0))
                outcomes[rest.invitation_id] = _outcome(
                    "deferred", request.attempt, clock.now(), error="out_of_time", refusals=earlier or None
                )
            logger.warning("out of time: the rest of the batch is deferred", extra=context)
            break
        pacer.wait()
        sent_to = {
            "reply_token_hash": reply_token_hash(prepared.email.reply_token),
            "email_hash": prepared.contact.email_hash,
            "first_name": prepared.contact.first_name,
            "closes_at": wave.closes_at.isoformat() if wave.closes_at else None,
        }
        try:
            message_id = send_raw(prepared.raw, to=prepared.email.to)
        except SendRefused as refused:
            outcomes[key] = _refused(request, refused, refusals, settings.max_send_attempts)
            logger.warning(
                "SES refused a survey email",
                extra={**context, "invitation_id": key, "code": refused.code, "throttled": refused.throttled},
            )
            continue
        except SendOutcomeUnknown as unknown:
            outcomes[key] = _outcome("uncertain", request.attempt, clock.now(), error=unknown.code, **sent_to)
            logger.error("no answer from SES", extra={**context, "invitation_id": key, "code": unknown.code})
            continue
        except Exception as error:  # noqa: BLE001 - whatever it was, the email may have gone
            code = classify(error).code
            outcomes[key] = _outcome("uncertain", request.attempt, clock.now(), error=code, **sent_to)
            logger.error("survey email call failed", extra={**context, "invitation_id": key, "code": code})
            continue
        outcomes[key] = _outcome("sent", request.attempt, clock.now(), message_id=message_id, **sent_to)
    return outcomes


def _refused(request: SendRequest, refused: SendRefused, refusals: int, limit: int) -> Outcome:
    now = clock.now()
    if refused.throttled:
        return _outcome("deferred", request.attempt, now, error=refused.code, throttled=True, refusals=refusals or None)
    refusals += 1
    if refusals >= limit:
        return _outcome("failed", request.attempt, now, error=refused.code, refusals=refusals)
    return _outcome("deferred", request.attempt, now, error=refused.code, refusals=refusals)


def _settle_redelivery(request: SendRequest, now: datetime) -> BatchResult:
    """This attempt was claimed by someone else (or by an earlier delivery of this message)."""
    result = BatchResult(request.batch_id, request.attempt, claimed=False)
    context = {"wave_id": request.wave_id, "batch_id": request.batch_id, "attempt": request.attempt}
    try:
        current = SendBatch.get(request.batch_id, consistent_read=True)
    except SendBatch.DoesNotExist:
        logger.error("send batch claimed but not found", extra=context)
        return result
    outcomes = _as_dict(current.outcomes)
    unrecorded = [
        key for key in request.invitation_ids if not _recorded_in(_as_dict(outcomes.get(key)), request.attempt)
    ]
    if unrecorded:
        _mark_uncertain(request.batch_id, request.attempt, unrecorded, now)
        metrics.add_metric(name="invitations_uncertain", unit=MetricUnit.Count, value=len(unrecorded))
        logger.warning(
            "attempt claimed before: invitations without an outcome are uncertain",
            extra={**context, "invitation_ids": unrecorded},
        )
        result.outcomes.update(dict.fromkeys(unrecorded, "uncertain"))
        outcomes = _as_dict(SendBatch.get(request.batch_id, consistent_read=True).outcomes)
    if int(current.attempt) == request.attempt:
        # The claimant may have died between recording deferrals and enqueuing them: enqueue again
        # (a duplicate of the next attempt is harmless: only one delivery can claim it).
        deferred = [
            key
            for key in request.invitation_ids
            if _as_dict(outcomes.get(key)).get("state") == "deferred"
            and int(_as_dict(outcomes.get(key)).get("attempt", 0)) == request.attempt
        ]
        if deferred:
            _enqueue_next(request, deferred)
            result.requeued = deferred
    return result


def _count(result: BatchResult, outcomes: dict[str, Outcome], early: dict[str, Outcome]) -> None:
    for state in ("sent", "failed", "uncertain", "deferred"):
        count = result.count(state)
        if count:
            metrics.add_metric(name=f"invitations_{state}", unit=MetricUnit.Count, value=count)
    throttled = sum(1 for value in outcomes.values() if value.get("throttled"))
    if throttled:
        metrics.add_metric(name="invitations_throttled", unit=MetricUnit.Count, value=throttled)
    reasons: dict[str, int] = {}
    for value in early.values():
        if value["state"] == "skipped":
            reasons[value["skip_reason"]] = reasons.get(value["skip_reason"], 0) + 1
    for reason, count in reasons.items():
        metrics.add_metric(name=f"invitations_skipped_{reason}", unit=MetricUnit.Count, value=count)


# ------------------------------------------------------------------ the queue


def send_message(
    body: str, *, pacer: Pacer | None = None, remaining_ms: Callable[[], int] | None = None
) -> BatchResult:
    """One send-queue message."""
    return send_batch(SendRequest.from_body(body), pacer=pacer, remaining_ms=remaining_ms)


# A batch whose every message failed is reported message by message too, as any other.
_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def process_send_queue(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The sender's handler: each message on its own, failures reported per message."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def record_handler(record: SQSRecord) -> None:
        send_message(record.body, remaining_ms=remaining)

    return process_partial_response(event=event, record_handler=record_handler, processor=_processor, context=context)

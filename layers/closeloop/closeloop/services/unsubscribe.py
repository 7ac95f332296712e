"""Unsubscribe (F3, R2): the page of the email's unsubscribe link, the RFC 8058 one-click POST of
mail clients, and the undo of a mistaken click (docs/capture.md "Unsubscribe").

A GET changes nothing; a POST suppresses the address at once: one transaction puts the
Suppression (keyed by the email hash copied onto the invitation at send, `attribute_not_exists`,
so the first reason stays) and marks the invitation `unsubscribed_at`. The undo deletes only the
suppression this invitation's click made (`reason = unsubscribe AND invitation_id = :i`); a bounce,
a complaint or another email's opt-out stays. Every read or write of a token that is not a valid
unsubscribe token is the same NotFound, and records nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pynamodb.exceptions import CancellationReason, DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action

from closeloop import clock
from closeloop.errors import NotFound, Unavailable
from closeloop.models import Invitation, SendBatch, Suppression
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.settings import get_settings
from closeloop.tokens import TokenKind, read_token

Source = Literal["link", "one_click"]
MailSource = Literal["mailto", "reply"]
"""A mail to the List-Unsubscribe mailto address, or a reply that only asks to unsubscribe."""
MailOutcome = Literal["unsubscribed", "already", "repeated"]
"""Suppressed by this mail; the address was suppressed before (the mail is kept all the same); this
very mail was handled before (a retried event: nothing written)."""
State = Literal["ask", "unsubscribed", "already", "undone", "kept"]
"""What the page says: the question; unsubscribed (by this email, undo offered); already suppressed
before (another email, a bounce...); the undo done; the address kept suppressed for another reason."""

LANGUAGES = ("fr", "en")
ATTEMPTS = 3
"""Tries of a transaction cancelled by a conflict (API functions: then 503, nothing half-written)."""
CONDITION_FAILED = "ConditionalCheckFailed"
_READ = ["invitation_id", "email_hash", "language", "unsubscribed_at", "first"]
_NOT_COPIED_YET = ("reserved", "sending", "deferred")
"""Step states of an invitation whose send the ledger's consumer has not copied onto it yet."""


@dataclass(frozen=True)
class UnsubscribePage:
    """What an unsubscribe page shows, in the contact's language."""

    invitation_id: str
    language: str
    state: State

    @property
    def can_undo(self) -> bool:
        """The page offers "this was a mistake": the address is suppressed by this email's click."""
        return self.state == "unsubscribed"


def language_of(invitation: Invitation) -> str:
    language = invitation.language
    return language if language in LANGUAGES else get_settings().default_language


def _invitation(token: str) -> Invitation:
    """The invitation a valid unsubscribe token names, sent (it has the address's hash); else NotFound."""
    invitation_id = read_token(token, TokenKind.UNSUBSCRIBE)
    try:
        invitation = Invitation.get(invitation_id, attributes_to_get=_READ)
    except DoesNotExist as error:
        raise NotFound("this link is not valid") from error
    if not invitation.email_hash:
        invitation.email_hash = _sent_hash(invitation)
    if not invitation.email_hash:  # never sent, or its contact erased since
        raise NotFound("this link is not valid")
    return invitation


def _sent_hash(invitation: Invitation) -> str | None:
    """The address's hash from the send ledger, for an email sent whose outcome has not reached the
    invitation yet (the ledger's stream lags behind SES, by seconds in a large wave): a link opened
    at once still works. None when the ledger says it was not sent."""
    step = invitation.first
    if step is None or step.state not in _NOT_COPIED_YET or not step.batch_id:
        return None  # copied already: no hash there means erased
    try:
        batch = SendBatch.get(step.batch_id, consistent_read=True, attributes_to_get=["outcomes"])
    except DoesNotExist:
        return None
    outcome = batch.outcomes.as_dict().get(invitation.invitation_id) if batch.outcomes else None
    if not isinstance(outcome, dict) or outcome.get("state") not in ("sent", "uncertain"):
        return None
    found = outcome.get("email_hash")
    return found if isinstance(found, str) and found else None


def show(token: str) -> UnsubscribePage:
    """GET: the question, or the confirmation when this email's click is already recorded. No write."""
    invitation = _invitation(token)
    state: State = "unsubscribed" if invitation.unsubscribed_at is not None else "ask"
    return UnsubscribePage(invitation.invitation_id, language_of(invitation), state)


def unsubscribe(token: str, source: Source, *, sleep: Callable[[float], None] = time.sleep) -> UnsubscribePage:
    """POST (the page's button, or a mail client's one-click): suppress the address, at once.

    One TransactWriteItems: Put Suppression `attribute_not_exists(email_hash)` and Update the
    invitation `SET unsubscribed_at = if_not_exists(...), unsubscribe_source`. An address already
    suppressed (any reason) cancels it: nothing changes and the page confirms all the same.
    """
    invitation = _invitation(token)
    now = clock.now()
    put = suppression_put(
        invitation.email_hash, reason="unsubscribe", source=source, invitation_id=invitation.invitation_id
    )
    actions = [
        Invitation.unsubscribed_at.set(Invitation.unsubscribed_at | now),
        Invitation.unsubscribe_source.set(source),
        *_stamp(now),
    ]
    language = language_of(invitation)
    reasons = _transact(puts=[put], updates=[_update(invitation, actions)], language=language, sleep=sleep)
    context = {"invitation_id": invitation.invitation_id, "source": source}
    if reasons is None:
        metrics.add_metric(name=f"unsubscribed_{source}", unit=MetricUnit.Count, value=1)
        logger.info("address unsubscribed", extra=context)
        return UnsubscribePage(invitation.invitation_id, language, "unsubscribed")
    _raise_if_invitation_gone(reasons, index=1)
    existing = _old_item(reasons[0])
    mine = existing.get("reason") == "unsubscribe" and existing.get("invitation_id") == invitation.invitation_id
    metrics.add_metric(name="unsubscribe_repeated", unit=MetricUnit.Count, value=1)
    logger.info("address already suppressed: nothing changed", extra={**context, "by_this_email": mine})
    return UnsubscribePage(invitation.invitation_id, language, "unsubscribed" if mine else "already")


def undo(token: str, *, sleep: Callable[[float], None] = time.sleep) -> UnsubscribePage:
    """POST "this was a mistake": lift the suppression only if this email's click made it.

    One TransactWriteItems: Delete Suppression `reason = unsubscribe AND invitation_id = :i` and
    Update the invitation `REMOVE unsubscribed_at, unsubscribe_source`. Any other suppression (a
    bounce, a complaint, a manual one, another email's opt-out) cancels it and stays.
    """
    invitation = _invitation(token)
    now = clock.now()
    delete = Suppression(invitation.email_hash).get_delete_kwargs_from_instance(
        condition=(Suppression.reason == "unsubscribe") & (Suppression.invitation_id == invitation.invitation_id),
        return_values_on_condition_failure="ALL_OLD",
        add_version_condition=False,
    )
    actions = [Invitation.unsubscribed_at.remove(), Invitation.unsubscribe_source.remove(), *_stamp(now)]
    language = language_of(invitation)
    reasons = _transact(deletes=[delete], updates=[_update(invitation, actions)], language=language, sleep=sleep)
    context = {"invitation_id": invitation.invitation_id}
    if reasons is None:
        metrics.add_metric(name="unsubscribe_undone", unit=MetricUnit.Count, value=1)
        logger.info("unsubscribe undone", extra=context)
        return UnsubscribePage(invitation.invitation_id, language, "undone")
    _raise_if_invitation_gone(reasons, index=1)
    existing = _old_item(reasons[0])
    if not existing:  # no suppression left (an undo repeated): the address is not suppressed
        logger.info("unsubscribe undo repeated: nothing to lift", extra=context)
        return UnsubscribePage(invitation.invitation_id, language, "undone")
    metrics.add_metric(name="unsubscribe_undo_refused", unit=MetricUnit.Count, value=1)
    logger.info("unsubscribe undo refused: the suppression is not this email's", extra=context)
    return UnsubscribePage(invitation.invitation_id, language, "kept")


# ------------------------------------------------------------------ the suppression


FIRST_REASON_STAYS = Suppression.email_hash.does_not_exist()
"""Every Suppression is written on this condition (data-model 4.6): the first reason stays."""


def suppression_put(email_hash: str, *, reason: str, source: str, invitation_id: str | None) -> dict[str, Any]:
    """The Put of a Suppression in a transaction; a refusal returns the suppression already there."""
    suppression = Suppression(email_hash, reason=reason, source=source, invitation_id=invitation_id)
    request: dict[str, Any] = suppression.get_save_kwargs_from_instance(
        condition=FIRST_REASON_STAYS, return_values_on_condition_failure="ALL_OLD"
    )
    return request


def suppress(email_hash: str, *, reason: str, source: str, invitation_id: str | None) -> bool:
    """Suppress an address with one conditional Put, outside a transaction (a bounce, a complaint):
    True when this call suppressed it, False when it was suppressed already, for any reason."""
    try:
        Suppression(email_hash, reason=reason, source=source, invitation_id=invitation_id).save(
            condition=FIRST_REASON_STAYS
        )
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def unsubscribe_by_mail(
    invitation: Invitation,
    source: MailSource,
    message: dict[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> MailOutcome:
    """A mail asking to unsubscribe, routed to this invitation by its reply token.

    One TransactWriteItems, as `unsubscribe` plus the mail: Put Suppression keyed by the
    invitation's `email_hash` (the address the survey went to, never the mail's From, which anyone
    can write), Update the invitation `SET unsubscribed_at = if_not_exists(...)`, and `message` (a
    Put request of the Messages item, `attribute_not_exists(message_key)`). A message already there
    is this mail handled before: nothing is written. An address already suppressed keeps its first
    reason; the invitation and the mail are written without the suppression.
    """
    if not invitation.email_hash:
        raise NotFound("this invitation has no address to suppress")
    now = clock.now()
    put = suppression_put(
        invitation.email_hash, reason="unsubscribe", source=source, invitation_id=invitation.invitation_id
    )
    actions = [
        Invitation.unsubscribed_at.set(Invitation.unsubscribed_at | now),
        Invitation.unsubscribe_source.set(Invitation.unsubscribe_source | source),
        *_stamp(now),
    ]
    update = _update(invitation, actions)
    language = language_of(invitation)
    context = {"invitation_id": invitation.invitation_id, "source": source}
    reasons = _transact(puts=[put, message], updates=[update], language=language, sleep=sleep)
    if reasons is None:
        metrics.add_metric(name=f"unsubscribed_{source}", unit=MetricUnit.Count, value=1)
        logger.info("address unsubscribed by mail", extra=context)
        return "unsubscribed"
    if _failed(reasons, 1):
        logger.info("unsubscribe mail handled before: nothing written", extra=context)
        return "repeated"
    _raise_if_invitation_gone(reasons, index=2)
    # Suppressed before: the first reason stays; the invitation and the mail are still written.
    reasons = _transact(puts=[message], updates=[update], language=language, sleep=sleep)
    if reasons is not None:
        if _failed(reasons, 0):
            return "repeated"
        _raise_if_invitation_gone(reasons, index=1)
    metrics.add_metric(name="unsubscribe_repeated", unit=MetricUnit.Count, value=1)
    logger.info("address already suppressed: the mail is kept", extra=context)
    return "already"


def _failed(reasons: Sequence[CancellationReason | None], index: int) -> bool:
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == CONDITION_FAILED


# ------------------------------------------------------------------ the transaction


def _stamp(now: datetime) -> list[Action]:
    actions: list[Action] = [Invitation.updated_at.set(now)]
    cid = correlation_id()
    if cid:
        actions.append(Invitation.correlation_id.set(cid))
    return actions


def _update(invitation: Invitation, actions: list[Action]) -> dict[str, Any]:
    request: dict[str, Any] = invitation.get_update_kwargs_from_instance(
        actions=actions, condition=Invitation.invitation_id.exists(), add_version_condition=False
    )
    return request


def _transact(
    *,
    puts: Sequence[dict[str, Any]] = (),
    deletes: Sequence[dict[str, Any]] = (),
    updates: Sequence[dict[str, Any]] = (),
    language: str,
    sleep: Callable[[float], None],
) -> list[CancellationReason | None] | None:
    """Write the items in one transaction: None when written, else the reasons of a condition that
    failed (deletes, puts, then updates, in that order). A conflict (or throttling) is retried
    with full jitter, then Unavailable (its details name the page's language): nothing is ever
    half-written."""
    connection = Invitation._get_connection().connection
    for attempt in range(ATTEMPTS):
        try:
            connection.transact_write_items(
                condition_check_items=[], delete_items=list(deletes), put_items=list(puts), update_items=list(updates)
            )
            return None
        except TransactWriteError as error:
            reasons = list(error.cancellation_reasons)
            if not reasons:
                raise
            if any(reason is not None and reason.code == CONDITION_FAILED for reason in reasons):
                return reasons
            codes = sorted({reason.code for reason in reasons if reason is not None})
            logger.warning("unsubscribe transaction cancelled", extra={"codes": codes, "attempt": attempt + 1})
            if attempt + 1 < ATTEMPTS:
                sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret
    metrics.add_metric(name="unsubscribe_conflicts", unit=MetricUnit.Count, value=1)
    raise Unavailable("please try again in a moment", details={"language": language})


def _raise_if_invitation_gone(reasons: Sequence[CancellationReason | None], *, index: int) -> None:
    reason = reasons[index] if index < len(reasons) else None
    if reason is not None and reason.code == CONDITION_FAILED:
        raise NotFound("this link is not valid")


def _old_item(reason: CancellationReason | None) -> dict[str, str]:
    """The string attributes of the item whose condition failed (ReturnValuesOnConditionCheckFailure)."""
    if reason is None or reason.code != CONDITION_FAILED or not reason.raw_item:
        return {}
    return {name: value["S"] for name, value in reason.raw_item.items() if isinstance(value, dict) and "S" in value}

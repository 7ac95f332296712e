"""Copying send outcomes from the SendBatches ledger onto invitations and wave counts, exactly once.

Driven by the ledger's stream (functions/dispatch_ledger). For each record, every changed outcome
moves its invitation's step (state, time, SES message id, reply token hash, what is copied "at
send") with an update conditioned on the step still being where the ledger left it; then the
record's summed deltas are added to the wave together with a marker of the record, in one small
transaction (docs/data-model.md 9.3). A retried record finds its invitations moved on and its
marker written: nothing is applied twice. A first email that ends unsent (failed, skipped at send)
gives its contact's survey claim back (R2 counts surveys sent). After a record that finished first emails, the wave
moves from `sending` to `sent` if planning is done and every reserved invitation has its outcome.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from pynamodb.constants import ALL_NEW
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from closeloop import clock
from closeloop.models import Invitation, SendBatch, Stat, Wave
from closeloop.models.transact import update_request
from closeloop.observability import logger
from closeloop.rules.send_outcomes import (
    OutcomeChange,
    add_deltas,
    expected_step_states,
    gives_survey_back,
    outcome_changes,
    wave_deltas,
)
from closeloop.services.survey_claims import release_surveys

CONDITION_FAILED = "ConditionalCheckFailed"
ATTEMPTS = 5
MARKER_LIFE = timedelta(days=3)


class LedgerBusy(Exception):
    """Conflicting transactions kept cancelling this record's: the stream retries it."""


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _invitation_actions(
    step: str, batch_id: str, change: OutcomeChange, now: datetime
) -> tuple[list[Action], Condition]:
    """The invitation's side of one change: its step, its summary status, what is copied at send;
    and the condition that it still is where the ledger left it."""
    path = cast(Any, getattr(Invitation, step))
    outcome = change.outcome
    after = change.after
    actions: list[Action] = [
        path.state.set(after),
        path.batch_id.set(batch_id),
        path.attempts.set(int(outcome.get("attempt", 0))),
        Invitation.updated_at.set(now),
    ]
    at = _time(outcome.get("at"))
    if at is not None:
        actions.append(path.at.set(at))
    actions.append(path.error.set(str(outcome["error"])) if outcome.get("error") else path.error.remove())
    if outcome.get("message_id"):
        actions.append(path.message_id.set(str(outcome["message_id"])))
    if outcome.get("reply_token_hash"):
        actions.append(path.reply_token_hash.set(str(outcome["reply_token_hash"])))
    if step == "first":
        actions.append(Invitation.status.set(after))
        if after == "skipped" and outcome.get("skip_reason"):
            actions.append(Invitation.skip_reason.set(str(outcome["skip_reason"])))
    if after in ("sent", "uncertain"):
        if outcome.get("email_hash"):
            actions.append(Invitation.email_hash.set(str(outcome["email_hash"])))
        if outcome.get("first_name"):
            actions.append(Invitation.first_name.set(str(outcome["first_name"])))
        closes_at = _time(outcome.get("closes_at"))
        if closes_at is not None:
            actions.append(Invitation.closes_at.set(closes_at))
    states = sorted(expected_step_states(change.before))
    condition: Condition = Invitation.invitation_id.exists() & path.exists() & path.state.is_in(*states)
    return actions, condition


def _move_invitation(step: str, batch_id: str, change: OutcomeChange, now: datetime) -> bool:
    """One conditional update: False when the invitation had moved on already (applied before)."""
    actions, condition = _invitation_actions(step, batch_id, change, now)
    try:
        answer = Invitation._get_connection().update_item(
            change.invitation_id, actions=actions, condition=condition, return_values=ALL_NEW
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    _catch_up_with_ses(step, batch_id, change, answer.get("Attributes") or {})
    return True


def _catch_up_with_ses(step: str, batch_id: str, change: OutcomeChange, item: Mapping[str, Any]) -> None:
    """SES's events may reach ses_events before the ledger reaches the invitation: ses_events then
    leaves its marks on the step (`delivered_at`, `bounce_type`, `ses_message_id`) and this catches
    up, in the rare case it is needed (docs/inbound-mail.md "SES events"): a step just marked
    `uncertain` that SES is known to have accepted is settled on the ledger (`sent`, condition
    `uncertain`; its own stream record then moves the invitation and the wave), and a first email's
    status goes back to `bounced` or `delivered` where this move wrote `sent` or `uncertain` over it."""
    marks = item.get(step, {}).get("M", {})
    accepted = marks.get("ses_message_id", {}).get("S")
    if change.after == "uncertain" and accepted:
        _settle_on_the_ledger(batch_id, change.invitation_id, str(accepted))
    if step != "first" or change.after not in ("sent", "uncertain"):
        return
    delivered = any("delivered_at" in item.get(name, {}).get("M", {}) for name in ("first", "reminder"))
    status = "bounced" if "bounced_at" in item else "delivered" if delivered else None
    if status is None:
        return
    try:
        Invitation._get_connection().update_item(
            change.invitation_id, actions=[Invitation.status.set(status)], condition=Invitation.status == change.after
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def _settle_on_the_ledger(batch_id: str, invitation_id: str, message_id: str) -> None:
    outcome = cast(Path, SendBatch.outcomes[invitation_id])
    try:
        SendBatch._get_connection().update_item(
            batch_id,
            actions=[
                outcome["state"].set("sent"),
                outcome["message_id"].set(message_id),
                outcome["settled_by"].set("ses"),
                outcome["error"].remove(),
            ],
            condition=outcome["state"] == "uncertain",
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return
    logger.info("uncertain email settled: SES had accepted it", extra={"invitation_id": invitation_id})


def _count_once(event_id: str, wave_id: str, deltas: Mapping[str, int], now: datetime) -> bool:
    """ADD a record's deltas to the wave, once: with a marker of the stream record, in one
    transaction (docs/data-model.md 9.3). False when the record was counted before."""
    marker = Stat(f"applied#dispatch_ledger#{event_id}", "applied", expires_at=now + MARKER_LIFE)
    put = marker.get_save_kwargs_from_instance(condition=Stat.scope.does_not_exist())
    actions: list[Action] = [cast(Any, getattr(Wave, name)).add(value) for name, value in sorted(deltas.items())]
    actions.append(Wave.updated_at.set(now))
    update = update_request(Wave, wave_id, actions, Wave.wave_id.exists())
    connection = Wave._get_connection().connection
    for tries in range(1, ATTEMPTS + 1):
        try:
            connection.transact_write_items(
                condition_check_items=[], delete_items=[], put_items=[put], update_items=[update]
            )
            return True
        except TransactWriteError as error:
            codes = [reason.code if reason else None for reason in error.cancellation_reasons or []]
            if not codes:
                raise
            if codes[0] == CONDITION_FAILED:
                return False
            if len(codes) > 1 and codes[1] == CONDITION_FAILED:
                logger.error("wave of a send batch not found: counts not kept", extra={"wave_id": wave_id})
                return False
            if tries == ATTEMPTS:
                raise LedgerBusy(f"wave {wave_id}: counts cancelled {tries} times ({codes})") from error
            time.sleep(random.uniform(0, 0.05 * 2**tries))  # noqa: S311 - jitter, not a secret
    return False


def apply_changes(
    *, event_id: str, batch_id: str, wave_id: str, step: str, changes: Sequence[OutcomeChange]
) -> list[OutcomeChange]:
    """Apply one stream record's changes: each invitation moved by a conditional update (a retried
    record finds it moved on), then the record's deltas added to the wave once. The changes
    applied to invitations by this call are returned."""
    if not changes:
        return []
    now = clock.now()
    moved = [change for change in changes if _move_invitation(step, batch_id, change, now)]
    deltas: dict[str, int] = {}
    for change in changes:  # the counts follow the ledger, whoever moved the invitation
        deltas = add_deltas(deltas, wave_deltas(step, change.before, change.after))
    if deltas:
        _count_once(event_id, wave_id, deltas, now)
    _give_surveys_back([change.invitation_id for change in changes if gives_survey_back(step, change)])
    return moved


def _give_surveys_back(invitation_ids: Sequence[str]) -> None:
    """Release the R2 claims of first emails that ended unsent (failed, skipped at send). Done for
    every such change, applied now or before: a retried record releases what a crash left held,
    and an entry already given back is left alone."""
    if not invitation_ids:
        return
    invitations = Invitation.batch_get(
        list(invitation_ids), consistent_read=True, attributes_to_get=["invitation_id", "contact_id", "survey_entry"]
    )
    entries = [(str(item.contact_id), str(item.survey_entry)) for item in invitations if item.survey_entry]
    released = release_surveys(entries)
    if released:
        logger.info("survey claims given back: first emails not sent", extra={"released": len(released)})


def complete_wave_if_finished(wave_id: str) -> bool:
    """`sending` -> `sent` once planning is done and every reserved invitation has its first outcome.

    Both sides call it: this consumer after outcomes, the planner once planning is done.
    """
    condition = (Wave.status == "sending") & (Wave.planning_done == True) & (Wave.finished >= Wave.reserved)  # noqa: E712
    try:  # the table connection: no version condition, as for every counter-driven write
        Wave._get_connection().update_item(
            wave_id, actions=[Wave.status.set("sent"), Wave.updated_at.set(clock.now())], condition=condition
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    logger.info("wave sent: every invitation has its first outcome", extra={"wave_id": wave_id})
    return True


def apply_record(record: DynamoDBRecord) -> list[OutcomeChange]:
    """One stream record of a SendBatches item."""
    new = record.dynamodb.new_image if record.dynamodb else {}
    if not new:
        return []  # a removed ledger item changes nothing
    old = record.dynamodb.old_image if record.dynamodb else {}
    batch_id, wave_id, step = str(new.get("batch_id")), str(new.get("wave_id")), str(new.get("step"))
    changes = outcome_changes(old.get("outcomes"), new.get("outcomes"))
    event_id = str(record.event_id or f"{batch_id}:{record.dynamodb.sequence_number if record.dynamodb else ''}")
    applied = apply_changes(event_id=event_id, batch_id=batch_id, wave_id=wave_id, step=step, changes=changes)
    if len(applied) < len(changes):
        logger.info(
            "ledger changes applied before",
            extra={"batch_id": batch_id, "wave_id": wave_id, "skipped": len(changes) - len(applied)},
        )
    if step == "first" and any(change.after != "deferred" for change in changes):
        complete_wave_if_finished(wave_id)
    return applied


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def process_ledger_stream(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """dispatch_ledger's handler: records in order, failures reported for the stream to retry."""
    return process_partial_response(event=event, record_handler=apply_record, processor=_processor, context=context)

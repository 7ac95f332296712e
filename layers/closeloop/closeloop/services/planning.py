"""Planning a wave: who gets its emails, reserved exactly once, handed to the sender in batches.

The wave schedule function runs one step of a wave at a time (docs/dispatch.md "Waves and
eligibility"):
- start: planned -> sending, then page through the target: per page, read the contacts
  (BatchGetItem) and their suppressions, claim R2 surveys (closeloop.services.survey_claims),
  write one invitation per contact evaluated (reserved or skipped, BatchWriteItem) and send one
  SQS message per batch of at most 10 reserved invitations;
- reminder: page through the wave's invitations sent and not answered, reserve their reminder
  (conditional updates in transactions) and enqueue them the same way;
- release: after a cancel, give back the R2 claims of invitations whose batch the sender never
  claimed, and mark them skipped;
- close: the wave is closed.

One planner at a time works on a wave (a lease on the wave item, until the invocation's own
deadline). Each page is first written on the wave (`*_pending`: the ids, `*_next`: the cursor
after it), so a retry redoes exactly the same page, never regrouping a batch; the cursor moves and
the page's counts are added in one conditional write, so a page counts once. When the remaining
time runs short the planner hands over through the planning queue.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition

from closeloop import aws, clock
from closeloop.ids import new_id
from closeloop.models import Contact, Invitation, Suppression, Wave, invitation_id_for
from closeloop.models.invitation import SendStep
from closeloop.models.transact import transact_updates, update_request
from closeloop.observability import MetricUnit, logger, metrics, sqs_attributes
from closeloop.rules.pressure import entry_for
from closeloop.services.dispatch_ledger import complete_wave_if_finished
from closeloop.services.sending import cancel_unclaimed_batches
from closeloop.services.survey_claims import (
    LEDGER_ATTRIBUTES,
    claim_surveys,
    ledger_of,
    read_contacts,
    release_surveys,
    rules_from,
)
from closeloop.settings import get_settings

BATCH_SIZE = 10
"""Invitations per send batch (one SQS message)."""

MARGIN_SECONDS = 20.0
"""Below this much time left, the planner hands over to the planning queue."""

LEASE_WITHOUT_DEADLINE = timedelta(minutes=15)
LEASE_GRACE = timedelta(seconds=5)

SENT_STATUSES = ("sent", "delivered")
"""Invitations whose first email left: the reminder goes to those not answered."""


class Busy(Exception):
    """Another planner holds this wave: try again later."""


@dataclass
class StepResult:
    wave_id: str
    step: str
    outcome: str  # done, continued, busy, ignored, missing, early
    pages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"wave_id": self.wave_id, "step": self.step, "outcome": self.outcome, "pages": self.pages}


@dataclass
class PageCounts:
    """What one page adds to the wave's counts."""

    values: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, name: str, value: int = 1) -> None:
        if value:
            self.values[name] += value


@dataclass(frozen=True)
class Batch:
    batch_id: str
    invitation_ids: tuple[str, ...]


# ------------------------------------------------------------------ the entry point


def run_wave_step(
    wave_id: str, step: str, *, time_left: Callable[[], float] | None = None, from_queue: bool = False
) -> StepResult:
    """Run (or resume) one step of a wave. Idempotent: a duplicate finds the step done or resumes it.

    `time_left` gives the invocation's remaining seconds; `from_queue`: a hand-over message, which
    raises Busy (to be retried) rather than handing over again when another planner holds the wave.
    """
    if step not in _PAGES and step != "close":
        logger.warning("unknown wave step", extra={"wave_id": wave_id, "step": step})
        return StepResult(wave_id, step, "ignored")
    wave = _read_wave(wave_id)
    if wave is None:
        logger.warning("a schedule fired for a wave that does not exist", extra={"wave_id": wave_id, "step": step})
        return StepResult(wave_id, step, "missing")
    due = {"start": wave.starts_at, "reminder": wave.reminder_at, "close": wave.closes_at}.get(step)
    if due is not None and clock.now() < due:
        # a schedule of the wave's times before a manager moved them (PATCH deletes it, but it may
        # have fired in between): the step runs at the wave's time, from its new schedule
        logger.info("a wave step fired before its time: ignored", extra={"wave_id": wave_id, "step": step})
        return StepResult(wave_id, step, "early")
    if step == "close":
        return _close(wave)
    if step == "start" and wave.status == "planned":
        wave = _start(wave)
    if not _wanted(wave, step):
        logger.info("nothing to do", extra={"wave_id": wave_id, "step": step, "status": wave.status})
        return StepResult(wave_id, step, "done" if _finished(wave, step) else "ignored")

    owner = new_id()
    acquired = _acquire(wave, owner, time_left)
    if acquired is None:
        if from_queue:
            raise Busy(f"wave {wave_id} is being planned by another invocation")
        hand_over(wave_id, step)
        return StepResult(wave_id, step, "busy")
    wave = acquired
    pages = 0
    try:
        while _wanted(wave, step):
            if time_left is not None and time_left() < MARGIN_SECONDS:
                _release_lease(wave, owner)
                hand_over(wave_id, step)
                return StepResult(wave_id, step, "continued", pages)
            wave = _PAGES[step](wave, owner)
            pages += 1
    except Exception:
        _release_lease(wave, owner)
        if not from_queue:  # the planning queue retries (then its DLQ): a failed schedule is not lost
            hand_over(wave_id, step)
        raise
    _release_lease(wave, owner)
    if step == "start" and wave.planning_done:
        # Every invitation may have had its outcome already (or none was reserved): the ledger
        # consumer then has nothing left to move the wave on.
        complete_wave_if_finished(wave_id)
    return StepResult(wave_id, step, "done" if _finished(wave, step) else "ignored", pages)


def run_wave_event(
    payload: Any, *, time_left: Callable[[], float] | None = None, from_queue: bool = False
) -> StepResult:
    """run_wave_step for a Scheduler input or a planning-queue message: `{"wave_id", "step"}` (a
    JSON text or a dict). Anything else is logged and dropped: retrying it would not mend it."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = None
    wave_id = payload.get("wave_id") if isinstance(payload, dict) else None
    step = payload.get("step") if isinstance(payload, dict) else None
    if not isinstance(wave_id, str) or not isinstance(step, str) or not wave_id or len(wave_id) > 64:
        logger.error("not a wave step: dropped", extra={"keys": sorted(payload) if isinstance(payload, dict) else None})
        return StepResult(str(wave_id), str(step), "ignored")
    return run_wave_step(wave_id, step, time_left=time_left, from_queue=from_queue)


def hand_over(wave_id: str, step: str) -> None:
    """Ask the planning queue to run the step again (continuation, or a wave held by another)."""
    url = get_settings().planning_queue_url
    if not url:
        raise RuntimeError("PLANNING_QUEUE_URL is not set for this function")
    arguments: dict[str, Any] = {
        "QueueUrl": url,
        "MessageBody": json.dumps({"wave_id": wave_id, "step": step}),
    }
    attributes = sqs_attributes()
    if attributes:
        arguments["MessageAttributes"] = attributes
    aws.client("sqs").send_message(**arguments)
    logger.info("planning handed over", extra={"wave_id": wave_id, "step": step})


# ------------------------------------------------------------------ the wave item


def _read_wave(wave_id: str) -> Wave | None:
    try:
        return Wave.get(wave_id, consistent_read=True)
    except Wave.DoesNotExist:
        return None


def _update(wave: Wave, actions: list[Any], condition: Condition) -> Wave | None:
    """A conditional write on the wave (never checked against the version managers edit with);
    the wave as written, or None when the condition failed."""
    try:
        wave.update(
            actions=[*actions, Wave.updated_at.set(clock.now())], condition=condition, add_version_condition=False
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return wave


def _wanted(wave: Wave, step: str) -> bool:
    if step == "start":
        return wave.status == "sending" and not wave.planning_done
    if step == "reminder":
        return wave.status in ("sending", "sent") and not wave.reminder_done
    if step == "release":
        return wave.status == "cancelled" and not wave.release_done
    return False


def _finished(wave: Wave, step: str) -> bool:
    return bool({"start": wave.planning_done, "reminder": wave.reminder_done, "release": wave.release_done}.get(step))


def _start(wave: Wave) -> Wave:
    now = clock.now()
    started = _update(wave, [Wave.status.set("sending"), Wave.started_at.set(now)], Wave.status == "planned")
    if started is not None:
        logger.info("wave started", extra={"wave_id": wave.wave_id})
        return started
    return _read_wave(wave.wave_id) or wave


def _close(wave: Wave) -> StepResult:
    now = clock.now()
    closed = _update(
        wave,
        [Wave.status.set("closed"), Wave.closed_at.set(now)],
        Wave.status.is_in("planned", "sending", "sent"),
    )
    if closed is None:
        return StepResult(wave.wave_id, "close", "done" if wave.status == "closed" else "ignored")
    logger.info("wave closed", extra={"wave_id": wave.wave_id})
    return StepResult(wave.wave_id, "close", "done")


def _acquire(wave: Wave, owner: str, time_left: Callable[[], float] | None) -> Wave | None:
    """Take the planning lease, until this invocation's deadline (Lambda ends it there)."""
    now = clock.now()
    until = now + (timedelta(seconds=time_left()) + LEASE_GRACE if time_left is not None else LEASE_WITHOUT_DEADLINE)
    return _update(
        wave,
        [Wave.planner.set(owner), Wave.planner_until.set(until)],
        Wave.planner.does_not_exist() | (Wave.planner_until < now),
    )


def _release_lease(wave: Wave, owner: str) -> None:
    """Give the lease back (it also ends by itself at the holder's deadline)."""
    try:
        _update(wave, [Wave.planner.remove(), Wave.planner_until.remove()], Wave.planner == owner)
    except Exception:  # noqa: BLE001 - never hide the error that brought us here
        logger.exception("cannot give the planning lease back", extra={"wave_id": wave.wave_id})


def _cursor_is(attribute: Any, value: str | None) -> Condition:
    return attribute.does_not_exist() if value is None else attribute == value  # type: ignore[no-any-return]


def _write_pending(wave: Wave, owner: str, step: str, ids: list[str], following: str | None) -> Wave:
    """Fix the page about to be worked on, before any write it makes."""
    cursor, pending, after = _STEP_ATTRIBUTES[step]
    actions = [pending.set(cast(Any, ids)), after.set(following) if following is not None else after.remove()]
    condition = (Wave.planner == owner) & pending.does_not_exist() & _cursor_is(cursor, getattr(wave, cursor.attr_name))
    written = _update(wave, actions, condition)
    if written is None:
        raise Busy(f"wave {wave.wave_id}: the page moved under this planner")
    return written


def _checkpoint(wave: Wave, owner: str, step: str, following: str | None, counts: PageCounts) -> Wave:
    """Move the cursor past the page and add its counts: one write, so a page counts once."""
    cursor, pending, after = _STEP_ATTRIBUTES[step]
    done = _DONE[step]
    actions: list[Any] = [pending.remove(), after.remove()]
    actions.append(cursor.set(following) if following is not None else cursor.remove())
    if following is None:
        actions.append(done.set(True))
    actions.extend(getattr(Wave, name).add(value) for name, value in counts.values.items())
    condition = (Wave.planner == owner) & pending.exists() & _cursor_is(cursor, getattr(wave, cursor.attr_name))
    written = _update(wave, actions, condition)
    if written is None:
        raise Busy(f"wave {wave.wave_id}: the page was checkpointed by another planner")
    return written


# ------------------------------------------------------------------ start: the first emails


def _plan_first_page(wave: Wave, owner: str) -> Wave:
    settings = get_settings()
    resumed = wave.planning_pending is not None
    prefetched: dict[str, Contact] = {}
    if resumed:
        ids: list[str] = [str(item) for item in wave.planning_pending or []]
        following: str | None = wave.planning_next
    else:
        ids, following, prefetched = _target_page(wave, wave.planning_cursor, settings.planning_page_size)
        wave = _write_pending(wave, owner, "planning", ids, following)
    counts = _plan_contacts(wave, ids, prefetched, resumed=resumed)
    wave = _checkpoint(wave, owner, "planning", following, counts)
    _emit(counts, {"reserved": "InvitationsPlanned", "skipped_suppressed": "InvitationsSkippedSuppressed",
                   "skipped_pressure_gap": "InvitationsSkippedPressureGap",
                   "skipped_pressure_max": "InvitationsSkippedPressureMax"})  # fmt: skip
    logger.info("wave page planned", extra={"wave_id": wave.wave_id, "resumed": resumed, **counts.values})
    return wave


def _target_page(wave: Wave, cursor: str | None, size: int) -> tuple[list[str], str | None, dict[str, Contact]]:
    """The next page of the wave's target: contact ids, the cursor after it (None at the end) and,
    for a scan, the contacts themselves."""
    position = json.loads(cursor) if cursor else {}
    segments = list(wave.target.segments or [])
    if segments:
        index = int(position.get("segment", 0))
        results = Contact.by_segment.query(
            segments[index], limit=size, page_size=size, last_evaluated_key=position.get("key")
        )
        ids = [contact.contact_id for contact in results]
        key = results.last_evaluated_key
        if key is not None:
            following: dict[str, Any] | None = {"segment": index, "key": key}
        elif index + 1 < len(segments):
            following = {"segment": index + 1}
        else:
            following = None
        return ids, json.dumps(following) if following is not None else None, {}
    scan = Contact.scan(
        limit=size, page_size=size, last_evaluated_key=position.get("key"), attributes_to_get=list(LEDGER_ATTRIBUTES)
    )
    contacts = {contact.contact_id: contact for contact in scan}
    key = scan.last_evaluated_key
    return list(contacts), json.dumps({"key": key}) if key is not None else None, contacts


def _in_target(wave: Wave, contact: Contact) -> bool:
    if contact.erased_at is not None or not contact.email or not contact.email_hash:
        return False
    segments = list(wave.target.segments or [])
    languages = list(wave.target.languages or [])
    return (not segments or contact.segment in segments) and (not languages or contact.language in languages)


def _plan_contacts(wave: Wave, ids: Sequence[str], prefetched: dict[str, Contact], *, resumed: bool) -> PageCounts:
    """Evaluate, claim, reserve and enqueue one page of contacts; what it adds to the counts."""
    counts = PageCounts()
    found = prefetched if prefetched else read_contacts(ids)
    contacts = [found[contact_id] for contact_id in ids if contact_id in found and _in_target(wave, found[contact_id])]
    if not contacts:
        return counts
    suppressed = _suppressed({contact.email_hash for contact in contacts if contact.email_hash})
    now = clock.now()
    entry = entry_for(wave.starts_at, wave.wave_id)
    skipped: list[tuple[Contact, str]] = []
    candidates: list[Contact] = []
    for contact in contacts:
        if entry in ledger_of(contact):
            candidates.append(contact)  # claimed by this wave already: decided below
        elif contact.email_hash in suppressed:
            skipped.append((contact, "suppressed"))
        else:
            candidates.append(contact)
    claims = claim_surveys(candidates, wave_id=wave.wave_id, at=wave.starts_at, now=now, rules=rules_from())
    skipped.extend(claims.skipped)
    # Claimed by this wave before this page was first read: a contact moved to another targeted
    # segment after its page was planned. It has its invitation; it is not counted twice.
    ensure = list(claims.recovered) + (list(claims.already) if resumed else [])

    new_batches = _reserve_first(wave, claims.claimed, entry)
    ensured_batches, requeued = _ensure_first(wave, ensure, entry)
    _write_skipped(wave, skipped)
    _enqueue(wave.wave_id, "first", [*new_batches, *ensured_batches, *requeued])

    for _, reason in skipped:
        counts.add(f"skipped_{reason}")
    reserved = len(claims.claimed) + len(ensure)
    counts.add("reserved", reserved)
    counts.add("targeted", reserved + len(skipped))
    counts.add("evaluated", reserved + len(skipped))
    return counts


def _suppressed(hashes: set[str]) -> set[str]:
    if not hashes:
        return set()
    return {item.email_hash for item in Suppression.batch_get(list(hashes), attributes_to_get=["email_hash"])}


def _invitation(wave: Wave, contact: Contact) -> Invitation:
    return Invitation(
        invitation_id_for(wave.wave_id, contact.contact_id),
        wave_id=wave.wave_id,
        contact_id=contact.contact_id,
        segment=contact.segment,
        language=contact.language,
        weight=contact.weight,
        month=wave.month,
        closes_at=wave.closes_at,
    )


def _reserved_invitation(wave: Wave, contact: Contact, entry: str, batch_id: str) -> Invitation:
    invitation = _invitation(wave, contact)
    invitation.status = "reserved"
    invitation.survey_entry = entry
    invitation.first = SendStep(state="reserved", batch_id=batch_id, attempts=0)
    return invitation


def _batches_of(contacts: Sequence[Contact]) -> list[tuple[str, list[Contact]]]:
    return [(new_id(), list(contacts[i : i + BATCH_SIZE])) for i in range(0, len(contacts), BATCH_SIZE)]


def _reserve_first(wave: Wave, claimed: Sequence[Contact], entry: str) -> list[Batch]:
    """New invitations of newly claimed contacts: plain puts (their claim is the guard)."""
    batches = []
    with Invitation.batch_write() as writer:
        for batch_id, members in _batches_of(claimed):
            invitations = [_reserved_invitation(wave, contact, entry, batch_id) for contact in members]
            for invitation in invitations:
                writer.save(invitation)
            batches.append(Batch(batch_id, tuple(invitation.invitation_id for invitation in invitations)))
    return batches


def _ensure_first(wave: Wave, contacts: Sequence[Contact], entry: str) -> tuple[list[Batch], list[Batch]]:
    """Contacts claimed by this wave in an earlier attempt: an invitation that is missing is put
    (conditionally); one still reserved is enqueued again with its own batch id, never regrouped."""
    if not contacts:
        return [], []
    by_id = {invitation_id_for(wave.wave_id, contact.contact_id): contact for contact in contacts}
    existing = {item.invitation_id: item for item in Invitation.batch_get(list(by_id), consistent_read=True)}
    missing = [contact for invitation_id, contact in by_id.items() if invitation_id not in existing]
    new_batches = []
    for batch_id, members in _batches_of(missing):
        written = []
        for contact in members:
            invitation = _reserved_invitation(wave, contact, entry, batch_id)
            try:
                invitation.save(condition=Invitation.invitation_id.does_not_exist())
                written.append(invitation.invitation_id)
            except PutError:
                logger.warning("invitation appeared meanwhile", extra={"invitation_id": invitation.invitation_id})
        if written:
            new_batches.append(Batch(batch_id, tuple(written)))
    groups: dict[str, list[str]] = defaultdict(list)
    for invitation in existing.values():
        if invitation.first is not None and invitation.first.state == "reserved" and invitation.first.batch_id:
            groups[invitation.first.batch_id].append(invitation.invitation_id)
    requeued = [Batch(batch_id, tuple(sorted(ids))) for batch_id, ids in groups.items()]
    return new_batches, requeued


def _write_skipped(wave: Wave, skipped: Sequence[tuple[Contact, str]]) -> None:
    """An item for every contact skipped, so that "why was X not surveyed in wave W" has an answer."""
    if not skipped:
        return
    with Invitation.batch_write() as writer:
        for contact, reason in skipped:
            invitation = _invitation(wave, contact)
            invitation.status = "skipped"
            invitation.skip_reason = reason
            writer.save(invitation)


# ------------------------------------------------------------------ the send queue


def _enqueue(wave_id: str, step: str, batches: Sequence[Batch]) -> None:
    """One message per batch (SendMessageBatch, 10 messages a call) on the send queue."""
    if not batches:
        return
    url = get_settings().send_queue_url
    if not url:
        raise RuntimeError("SEND_QUEUE_URL is not set for this function")
    client = aws.client("sqs")
    attributes = sqs_attributes()
    for start in range(0, len(batches), 10):
        entries = []
        for index, batch in enumerate(batches[start : start + 10]):
            body = {
                "batch_id": batch.batch_id,
                "wave_id": wave_id,
                "step": step,
                "invitation_ids": list(batch.invitation_ids),
                "attempt": 1,
            }
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": json.dumps(body)}
            if attributes:
                entry["MessageAttributes"] = attributes
            entries.append(entry)
        for _ in range(3):
            failed = {item["Id"] for item in client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
            entries = [entry for entry in entries if entry["Id"] in failed]
            if not entries:
                break
        else:
            raise RuntimeError(f"the send queue refused {len(entries)} message(s) of wave {wave_id}")


# ------------------------------------------------------------------ reminder


def _remind_page(wave: Wave, owner: str) -> Wave:
    settings = get_settings()
    resumed = wave.reminder_pending is not None
    if resumed:
        ids: list[str] = [str(item) for item in wave.reminder_pending or []]
        following: str | None = wave.reminder_next
    else:
        ids, following = _reminder_targets(wave, wave.reminder_cursor, settings.planning_page_size)
        wave = _write_pending(wave, owner, "reminder", ids, following)
    counts = _remind(wave, ids, resumed=resumed)
    wave = _checkpoint(wave, owner, "reminder", following, counts)
    _emit(counts, {"reminded": "RemindersPlanned"})
    logger.info("wave reminder page planned", extra={"wave_id": wave.wave_id, "resumed": resumed, **counts.values})
    return wave


def _reminder_targets(wave: Wave, cursor: str | None, size: int) -> tuple[list[str], str | None]:
    """Invitations of the wave sent and neither answered nor reminded: a page of ids, the cursor after it."""
    results = Invitation.by_wave.query(
        wave.wave_id,
        filter_condition=Invitation.status.is_in(*SENT_STATUSES)
        & Invitation.responded_at.does_not_exist()
        & Invitation.reminded_at.does_not_exist(),
        limit=size,
        page_size=size,
        last_evaluated_key=json.loads(cursor) if cursor else None,
    )
    ids = [invitation.invitation_id for invitation in results]
    key = results.last_evaluated_key
    return ids, json.dumps(key) if key is not None else None


def _remind(wave: Wave, ids: Sequence[str], *, resumed: bool) -> PageCounts:
    counts = PageCounts()
    if not ids:
        return counts
    invitations = list(Invitation.batch_get(list(ids), consistent_read=True))
    requeue: dict[str, list[str]] = defaultdict(list)
    candidates: list[Invitation] = []
    for invitation in invitations:
        if invitation.reminder is not None:
            if resumed:  # reserved by an earlier attempt of this page, which did not count it
                counts.add("reminded")
                if invitation.reminder.state == "reserved" and invitation.reminder.batch_id:
                    requeue[invitation.reminder.batch_id].append(invitation.invitation_id)
        elif invitation.responded_at is None and invitation.status in SENT_STATUSES:
            candidates.append(invitation)
    now = clock.now()
    batches = []
    requests = []
    for start in range(0, len(candidates), BATCH_SIZE):
        batch_id = new_id()
        members = candidates[start : start + BATCH_SIZE]
        batches.append(Batch(batch_id, tuple(invitation.invitation_id for invitation in members)))
        for invitation in members:
            step = SendStep(state="reserved", batch_id=batch_id, attempts=0)
            requests.append(
                update_request(
                    Invitation,
                    invitation.invitation_id,
                    [Invitation.reminder.set(step), Invitation.reminded_at.set(now), Invitation.updated_at.set(now)],
                    Invitation.reminder.does_not_exist()
                    & Invitation.responded_at.does_not_exist()
                    & Invitation.status.is_in(*SENT_STATUSES),
                )
            )
    refused = transact_updates(Invitation, requests)
    if refused:
        refused_ids = {candidates[index].invitation_id for index in refused}
        ours = {batch.batch_id for batch in batches}
        for invitation in Invitation.batch_get(list(refused_ids), consistent_read=True):
            if invitation.reminder is not None and invitation.reminder.batch_id in ours:
                refused_ids.discard(invitation.invitation_id)  # written: only the answer was lost
        batches = [
            Batch(batch.batch_id, tuple(i for i in batch.invitation_ids if i not in refused_ids)) for batch in batches
        ]
        batches = [batch for batch in batches if batch.invitation_ids]
    counts.add("reminded", sum(len(batch.invitation_ids) for batch in batches))
    _enqueue(wave.wave_id, "reminder", [*batches, *(Batch(b, tuple(sorted(i))) for b, i in requeue.items())])
    return counts


# ------------------------------------------------------------------ release (after a cancel)


def _release_page(wave: Wave, owner: str) -> Wave:
    settings = get_settings()
    results = Invitation.by_wave.query(
        wave.wave_id,
        filter_condition=Invitation.status.is_in("reserved", "deferred"),
        limit=settings.planning_page_size,
        page_size=settings.planning_page_size,
        last_evaluated_key=json.loads(wave.release_cursor) if wave.release_cursor else None,
    )
    ids = [invitation.invitation_id for invitation in results]
    key = results.last_evaluated_key
    following = json.dumps(key) if key is not None else None
    released = _release(wave.wave_id, ids)
    actions: list[Any] = [Wave.release_cursor.set(following) if following else Wave.release_cursor.remove()]
    if following is None:
        actions.append(Wave.release_done.set(True))
    if released:
        actions.append(Wave.released.add(released))
    written = _update(wave, actions, (Wave.planner == owner) & _cursor_is(Wave.release_cursor, wave.release_cursor))
    if written is None:
        raise Busy(f"wave {wave.wave_id}: the release moved under this planner")
    logger.info("wave claims released", extra={"wave_id": wave.wave_id, "released": released})
    return written


def _release(wave_id: str, ids: Sequence[str]) -> int:
    """Invitations whose batch no sender claimed: the batch is taken by the release (so that no
    sender ever will), their survey claim is given back and they end skipped (cancelled). Those of
    a batch a sender claimed first are left to the sender's outcome."""
    if not ids:
        return 0
    invitations = [
        invitation
        for invitation in Invitation.batch_get(list(ids), consistent_read=True)
        if invitation.status in ("reserved", "deferred") and invitation.first is not None
    ]
    batch_ids = {
        invitation.first.batch_id for invitation in invitations if invitation.first and invitation.first.batch_id
    }
    ours = cancel_unclaimed_batches(wave_id, "first", {batch_id for batch_id in batch_ids if batch_id})
    unsent = [
        invitation for invitation in invitations if invitation.first is not None and invitation.first.batch_id in ours
    ]
    entries = [(invitation.contact_id, invitation.survey_entry) for invitation in unsent if invitation.survey_entry]
    released = release_surveys(entries)
    now = clock.now()
    requests = [
        update_request(
            Invitation,
            invitation.invitation_id,
            [
                Invitation.status.set("skipped"),
                Invitation.skip_reason.set("cancelled"),
                cast(Any, Invitation.first).state.set("skipped"),
                Invitation.updated_at.set(now),
            ],
            Invitation.status.is_in("reserved", "deferred"),
        )
        for invitation in unsent
    ]
    transact_updates(Invitation, requests)
    return len(released)


# ------------------------------------------------------------------ tables of the steps


_PAGES: dict[str, Callable[[Wave, str], Wave]] = {
    "start": _plan_first_page,
    "reminder": _remind_page,
    "release": _release_page,
}

_STEP_ATTRIBUTES = {
    "planning": (Wave.planning_cursor, Wave.planning_pending, Wave.planning_next),
    "reminder": (Wave.reminder_cursor, Wave.reminder_pending, Wave.reminder_next),
}
_DONE = {"planning": Wave.planning_done, "reminder": Wave.reminder_done}


def _emit(counts: PageCounts, names: dict[str, str]) -> None:
    for count, metric in names.items():
        value = counts.values.get(count, 0)
        if value:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)

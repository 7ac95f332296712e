"""Planning a wave against the template's tables and queues: eligibility, exactly one invitation per
contact, batches on the send queue, counts, and every way a step can run twice or stop halfway."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pytest

from closeloop.models import Contact, Invitation, SendBatch, Wave, invitation_id_for
from closeloop.rules.pressure import entry_for
from closeloop.services import planning, survey_claims
from closeloop.services.waves import cancel_wave
from closeloop_local.template import ResolvedTemplate
from tests.integration.planning_support import (
    START,
    QueuedBatch,
    add_contacts,
    at,
    drain_queue,
    invitations_of,
    new_wave,
    planning_queue_url,
    send_queue_url,
    start,
    suppress,
    use_wave_functions_environment,
)
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("wave_schedule")


class PlannerContext(LambdaContext):
    """The wave schedule function's context, with the time its template timeout gives it."""

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@pytest.fixture
def waves(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    use_wave_functions_environment(stack, monkeypatch)
    return stack


def scheduler_event(wave: Wave, step: str = "start") -> dict[str, Any]:
    return {"wave_id": wave.wave_id, "step": step}


def queue_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    event = load_event("sqs/message.json")
    template = event["Records"][0]
    event["Records"] = [
        {**template, "messageId": f"m-{index}", "body": json.dumps(body)} for index, body in enumerate(bodies)
    ]
    return event


def assert_batches_are_whole_and_cover(batches: list[QueuedBatch], invitations: list[Invitation]) -> None:
    """Every reserved invitation is in a message of its own batch; a batch sent twice is the same batch."""
    by_batch: dict[str, set[tuple[str, ...]]] = {}
    for batch in batches:
        by_batch.setdefault(batch.batch_id, set()).add(tuple(sorted(batch.invitation_ids)))
    assert all(len(versions) == 1 for versions in by_batch.values()), "a batch was regrouped"
    reserved = [invitation for invitation in invitations if invitation.status == "reserved"]
    queued = {invitation_id for batch in batches for invitation_id in batch.invitation_ids}
    assert queued == {invitation.invitation_id for invitation in reserved}
    for invitation in reserved:
        assert invitation.first is not None
        assert invitation.invitation_id in next(iter(by_batch[invitation.first.batch_id]))
    assert all(len(batch.invitation_ids) <= 10 for batch in batches)


# ------------------------------------------------------------------ the start


def test_starting_a_wave_reserves_one_invitation_per_contact_and_hands_batches_of_ten_to_the_sender(
    waves: ResolvedTemplate, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 23 pharmacies and 2 doctors, and a wave to pharmacies
    pharmacies = add_contacts(23, segment="pharmacy", language="en")
    add_contacts(2, segment="doctor")
    wave = new_wave()

    # When its start schedule fires
    result = handler(scheduler_event(wave), PlannerContext())

    # Then every pharmacy has one reserved invitation, and the sender has them in batches of at most 10
    assert result["outcome"] == "done"
    stored = Wave.get(wave.wave_id)
    assert (stored.status, stored.planning_done) == ("sending", True)
    assert (stored.targeted, stored.reserved, stored.evaluated) == (23, 23, 23)
    invitations = invitations_of(wave)
    assert {i.invitation_id for i in invitations} == {invitation_id_for(wave.wave_id, c.contact_id) for c in pharmacies}
    first = invitations[0]
    assert (first.status, first.segment, first.language, first.weight, first.month) == (
        "reserved",
        "pharmacy",
        "en",
        1,
        "2027-01",
    )
    assert first.survey_entry == entry_for(START, wave.wave_id)
    batches = drain_queue(send_queue_url(waves))
    assert sorted(len(batch.invitation_ids) for batch in batches) == [3, 10, 10]
    assert {(batch.wave_id, batch.step, batch.attempt) for batch in batches} == {(wave.wave_id, "first", 1)}
    assert_batches_are_whole_and_cover(batches, invitations)
    assert all("correlation_id" in batch.attributes for batch in batches)
    ledgers = {c.contact_id: c.survey_dates for c in Contact.batch_get([c.contact_id for c in pharmacies])}
    assert all(ledger == [entry_for(START, wave.wave_id)] for ledger in ledgers.values())
    # and the function's metrics say so (EMF on stdout)
    output = capsys.readouterr().out
    emitted = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    assert [m["InvitationsPlanned"] for m in emitted if "InvitationsPlanned" in m] == [[23.0]]


def test_suppressed_and_recently_surveyed_contacts_are_skipped_with_their_reason_and_counted(
    waves: ResolvedTemplate,
) -> None:
    contacts = add_contacts(9)
    suppressed, gap, most = contacts[:2], contacts[2:4], contacts[4:5]
    suppress(suppressed)
    for contact in gap:  # surveyed 2 months before
        contact.update(actions=[Contact.survey_dates.set([entry_for(START - timedelta(days=60), "OLDER")])])
    for contact in most:  # surveyed twice in the last 12 months, far enough apart
        entries = [entry_for(START - timedelta(days=120), "B"), entry_for(START - timedelta(days=300), "A")]
        contact.update(actions=[Contact.survey_dates.set(entries)])
    wave = new_wave()

    start(wave)

    stored = Wave.get(wave.wave_id)
    assert stored.targeted == 9
    assert stored.reserved == 4
    assert (stored.skipped_suppressed, stored.skipped_pressure_gap, stored.skipped_pressure_max) == (2, 2, 1)
    by_contact = {i.contact_id: i for i in invitations_of(wave)}
    assert {by_contact[c.contact_id].skip_reason for c in suppressed} == {"suppressed"}
    assert {by_contact[c.contact_id].skip_reason for c in gap} == {"pressure_gap"}
    assert {by_contact[c.contact_id].skip_reason for c in most} == {"pressure_max"}
    assert all(by_contact[c.contact_id].status == "skipped" for c in contacts[:5])
    queued = {i for batch in drain_queue(send_queue_url(waves)) for i in batch.invitation_ids}
    assert queued == {by_contact[c.contact_id].invitation_id for c in contacts[5:]}
    assert Contact.get(suppressed[0].contact_id).survey_dates == []


def test_a_wave_with_nobody_left_to_survey_is_sent_as_soon_as_it_is_planned(waves: ResolvedTemplate) -> None:
    suppress(add_contacts(3))
    wave = new_wave()

    start(wave)

    stored = Wave.get(wave.wave_id)
    assert (stored.status, stored.planning_done, stored.reserved, stored.skipped_suppressed) == ("sent", True, 0, 3)
    assert drain_queue(send_queue_url(waves)) == []


def test_the_target_languages_and_everyone_choose_who_is_evaluated(waves: ResolvedTemplate) -> None:
    add_contacts(3, segment="pharmacy", language="fr", prefix="f")
    english = add_contacts(2, segment="doctor", language="en", prefix="e")

    english_wave = new_wave(languages=["en"], segments=[], everyone=False)
    start(english_wave)
    everyone = new_wave(START + timedelta(days=30), segments=[], languages=[], everyone=True)
    start(everyone)

    assert {i.contact_id for i in invitations_of(english_wave)} == {c.contact_id for c in english}
    assert Wave.get(english_wave.wave_id).targeted == 2
    everyone_invitations = invitations_of(everyone)
    assert len(everyone_invitations) == 5
    assert Counter(i.status for i in everyone_invitations) == {"reserved": 3, "skipped": 2}  # the English: the gap


def test_a_contact_erased_or_moved_out_of_the_target_gets_no_invitation(waves: ResolvedTemplate) -> None:
    erased, moved, kept = add_contacts(3)
    erased.update(actions=[Contact.erased_at.set(START), Contact.email.remove(), Contact.email_hash.remove()])
    moved.update(actions=[Contact.segment.set("doctor")])
    wave = new_wave()

    start(wave)

    assert [i.contact_id for i in invitations_of(wave)] == [kept.contact_id]
    assert Wave.get(wave.wave_id).targeted == 1


def test_a_wave_planned_page_by_page_counts_every_contact_once(
    waves: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNING_PAGE_SIZE", "7")
    survey_claims.get_settings.cache_clear()
    add_contacts(30)
    wave = new_wave()

    result = start(wave)

    assert (result.outcome, result.pages) == ("done", 5)
    stored = Wave.get(wave.wave_id)
    assert (stored.targeted, stored.reserved, stored.planning_pending, stored.planning_cursor) == (30, 30, None, None)
    assert len(invitations_of(wave)) == 30


# ------------------------------------------------------------------ running twice, stopping halfway


def test_a_duplicate_firing_of_the_start_schedule_changes_nothing(waves: ResolvedTemplate) -> None:
    add_contacts(12)
    wave = new_wave()
    handler(scheduler_event(wave), PlannerContext())
    first_batches = drain_queue(send_queue_url(waves))
    before = Wave.get(wave.wave_id)

    again = handler(scheduler_event(wave), PlannerContext())

    assert again["outcome"] == "done"
    after = Wave.get(wave.wave_id)
    assert (after.targeted, after.reserved) == (before.targeted, before.reserved) == (12, 12)
    assert len(invitations_of(wave)) == 12
    assert drain_queue(send_queue_url(waves)) == []
    assert len(first_batches) == 2


def test_a_start_schedule_firing_before_the_waves_time_moved_later_starts_nothing(waves: ResolvedTemplate) -> None:
    # Given a planned wave whose start a manager moved a day later (the old schedule fired anyway)
    add_contacts(3)
    wave = new_wave()
    moved = Wave.get(wave.wave_id)
    moved.update(actions=[Wave.starts_at.set(moved.starts_at + timedelta(days=1))])

    # When the old start schedule fires
    result = handler(scheduler_event(wave), PlannerContext())

    # Then nothing starts: the wave waits for its new time, and no invitation exists
    assert result["outcome"] == "early"
    assert Wave.get(wave.wave_id).status == "planned"
    assert invitations_of(wave) == []
    assert drain_queue(send_queue_url(waves)) == []


@pytest.mark.parametrize("crash_in", ["_reserve_first", "_write_skipped", "_enqueue", "_checkpoint"])
def test_a_page_retried_after_a_crash_gives_one_invitation_per_contact_counted_once(
    waves: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch, crash_in: str
) -> None:
    # Given a wave whose planner dies once at some point of its page
    contacts = add_contacts(25)
    suppress(contacts[:3])
    wave = new_wave()
    real = getattr(planning, crash_in)
    calls = {"n": 0}

    def dies_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            if crash_in == "_checkpoint":
                real(*args, **kwargs)  # the write lands, the answer is lost
            raise TimeoutError("the function died here")
        return real(*args, **kwargs)

    monkeypatch.setattr(planning, crash_in, dies_once)
    with pytest.raises(TimeoutError):
        handler(scheduler_event(wave), PlannerContext())

    # When the planning queue retries it
    hand_overs = drain_queue_bodies(planning_queue_url(waves))
    assert hand_overs == [{"wave_id": wave.wave_id, "step": "start"}]
    result = handler(queue_event(*hand_overs), PlannerContext())

    # Then each contact has exactly one invitation, counted once, in exactly one batch
    assert result == {"batchItemFailures": []}
    stored = Wave.get(wave.wave_id)
    assert stored.planning_done
    assert (stored.targeted, stored.reserved, stored.skipped_suppressed) == (25, 22, 3)
    invitations = invitations_of(wave)
    assert len(invitations) == 25
    assert_batches_are_whole_and_cover(drain_queue(send_queue_url(waves)), invitations)
    assert all(len(c.survey_dates) == 1 for c in Contact.batch_get([c.contact_id for c in contacts[3:]]))


def drain_queue_bodies(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_a_planner_short_of_time_hands_over_and_the_next_one_finishes(
    waves: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNING_PAGE_SIZE", "10")
    planning.get_settings.cache_clear()
    add_contacts(25)
    wave = new_wave()

    def time_left() -> float:  # plenty until a page is done, then short
        return 5.0 if Wave.get(wave.wave_id).planning_cursor else 100.0

    result = start(wave, time_left=time_left)

    assert (result.outcome, result.pages) == ("continued", 1)
    assert Wave.get(wave.wave_id).planner is None, "the lease is given back for the next invocation"
    hand_overs = drain_queue_bodies(planning_queue_url(waves))
    handler(queue_event(*hand_overs), PlannerContext())
    stored = Wave.get(wave.wave_id)
    assert (stored.planning_done, stored.targeted, stored.reserved) == (True, 25, 25)
    assert_batches_are_whole_and_cover(drain_queue(send_queue_url(waves)), invitations_of(wave))


def test_a_firing_while_another_planner_holds_the_wave_waits_for_it(
    waves: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_contacts(15)
    wave = new_wave()
    seen: list[dict[str, Any]] = []
    real = planning.claim_surveys

    def meanwhile_a_duplicate_fires(*args: Any, **kwargs: Any) -> Any:
        if not seen:
            seen.append(handler(scheduler_event(wave), PlannerContext()))
            queued = drain_queue_bodies(planning_queue_url(waves))
            busy = handler(queue_event(*queued), PlannerContext())
            seen.append(busy)
        return real(*args, **kwargs)

    monkeypatch.setattr(planning, "claim_surveys", meanwhile_a_duplicate_fires)
    start(wave)

    assert seen[0]["outcome"] == "busy"
    assert seen[1] == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}, "the hand-over is retried later"
    assert len(invitations_of(wave)) == 15
    assert Wave.get(wave.wave_id).reserved == 15


def test_two_waves_planned_at_the_same_moment_never_both_claim_a_contact(
    waves: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two waves on the same contacts, starting together
    contacts = add_contacts(12)
    first = new_wave(name="A")
    second = new_wave(name="B")
    real = survey_claims.transact_updates
    interleaved: list[bool] = []

    def the_other_wave_claims_first(*args: Any, **kwargs: Any) -> Any:
        if not interleaved:
            interleaved.append(True)
            start(second)  # between the first wave's reads and its claims
        return real(*args, **kwargs)

    monkeypatch.setattr(survey_claims, "transact_updates", the_other_wave_claims_first)

    # When the first is planned and the second plans in the middle of it
    start(first)

    # Then each contact is surveyed by one wave only; the other skips it for the gap
    a, b = Wave.get(first.wave_id), Wave.get(second.wave_id)
    assert (b.reserved, a.reserved, a.skipped_pressure_gap) == (12, 0, 12)
    assert all(len(c.survey_dates) == 1 for c in Contact.batch_get([c.contact_id for c in contacts]))
    assert Counter(i.status for i in invitations_of(first)) == {"skipped": 12}


# ------------------------------------------------------------------ reminder, close


def mark_sent(invitations: list[Invitation], *, responded: bool = False) -> None:
    """What the sender's ledger writes once an email went (and capture once a customer answered)."""
    for invitation in invitations:
        actions = [Invitation.status.set("sent"), Invitation.first.state.set("sent")]  # type: ignore[attr-defined]
        if responded:
            actions.append(Invitation.responded_at.set(START + timedelta(days=1)))
        invitation.update(actions=actions)


def test_the_reminder_goes_to_invitations_sent_and_not_answered_and_is_no_survey(waves: ResolvedTemplate) -> None:
    contacts = add_contacts(14)
    wave = new_wave()
    start(wave)
    drain_queue(send_queue_url(waves))
    invitations = sorted(invitations_of(wave), key=lambda i: i.contact_id)
    mark_sent(invitations[:11])
    mark_sent(invitations[11:12], responded=True)  # answered: no reminder; 12-13 never sent
    at(wave.reminder_at)

    result = handler(scheduler_event(wave, "reminder"), PlannerContext())

    assert result["outcome"] == "done"
    batches = drain_queue(send_queue_url(waves))
    assert {batch.step for batch in batches} == {"reminder"}
    assert sorted(len(batch.invitation_ids) for batch in batches) == [1, 10]
    reminded = {i for batch in batches for i in batch.invitation_ids}
    assert reminded == {invitation.invitation_id for invitation in invitations[:11]}
    stored = {i.invitation_id: i for i in invitations_of(wave)}
    assert all(stored[i].reminder.batch_id for i in reminded)  # type: ignore[union-attr]
    assert stored[invitations[11].invitation_id].reminder is None
    assert Wave.get(wave.wave_id).reminded == 11
    assert all(len(c.survey_dates) == 1 for c in Contact.batch_get([c.contact_id for c in contacts]))
    again = handler(scheduler_event(wave, "reminder"), PlannerContext())
    assert again["outcome"] == "done"
    assert drain_queue(send_queue_url(waves)) == []


def test_the_closing_closes_the_wave_once(waves: ResolvedTemplate) -> None:
    add_contacts(2)
    wave = new_wave()
    start(wave)
    at(wave.closes_at)

    first = handler(scheduler_event(wave, "close"), PlannerContext())
    second = handler(scheduler_event(wave, "close"), PlannerContext())

    assert first["outcome"] == second["outcome"] == "done"
    stored = Wave.get(wave.wave_id)
    assert (stored.status, stored.closed_at) == ("closed", wave.closes_at)
    assert handler(scheduler_event(wave, "reminder"), PlannerContext())["outcome"] == "ignored"


def test_schedules_that_fire_for_a_missing_or_cancelled_wave_do_nothing(waves: ResolvedTemplate) -> None:
    add_contacts(3)
    wave = new_wave()
    cancel_wave(wave.wave_id)

    assert handler({"wave_id": "01J0000000000000000000000X", "step": "start"}, PlannerContext())["outcome"] == "missing"
    assert handler(scheduler_event(wave), PlannerContext())["outcome"] == "ignored"
    assert invitations_of(wave) == []


def test_a_message_that_is_not_a_wave_step_is_dropped_not_retried(waves: ResolvedTemplate) -> None:
    event = queue_event({"hello": "world"})
    event["Records"].append({**event["Records"][0], "messageId": "m-1", "body": "not json"})

    assert handler(event, PlannerContext()) == {"batchItemFailures": []}


# ------------------------------------------------------------------ cancel while sending


def test_cancelling_a_sending_wave_gives_back_the_claims_of_emails_that_never_left(
    waves: ResolvedTemplate,
) -> None:
    # Given a wave planned, one of whose batches the sender has claimed already
    contacts = add_contacts(15)
    wave = new_wave()
    start(wave)
    batches = drain_queue(send_queue_url(waves))
    taken = next(batch for batch in batches if len(batch.invitation_ids) == 10)
    SendBatch(taken.batch_id, wave_id=wave.wave_id, step="first", invitation_ids=list(taken.invitation_ids)).save()

    # When a manager cancels it, and the planner runs the release it was handed
    cancel_wave(wave.wave_id)
    hand_overs = drain_queue_bodies(planning_queue_url(waves))
    assert hand_overs == [{"wave_id": wave.wave_id, "step": "release"}]
    handler(queue_event(*hand_overs), PlannerContext())

    # Then the 5 never claimed are skipped and their survey given back; the sender's 10 keep theirs
    stored = Wave.get(wave.wave_id)
    assert (stored.status, stored.release_done, stored.released) == ("cancelled", True, 5)
    invitations = {i.invitation_id: i for i in invitations_of(wave)}
    untouched = set(taken.invitation_ids)
    for invitation_id, invitation in invitations.items():
        if invitation_id in untouched:
            assert invitation.status == "reserved"
        else:
            assert (invitation.status, invitation.skip_reason) == ("skipped", "cancelled")
            assert invitation.first.state == "skipped"  # type: ignore[union-attr]
    # and the released batch is the release's: a sender that receives it later claims nothing
    released = {b.batch_id for b in batches} - {taken.batch_id}
    assert all(SendBatch.get(b, consistent_read=True).cancelled_at is not None for b in released)
    ledgers = {c.contact_id: c.survey_dates for c in Contact.batch_get([c.contact_id for c in contacts])}
    by_contact = {i.contact_id: i.invitation_id for i in invitations.values()}
    assert {cid for cid, ledger in ledgers.items() if ledger} == {
        cid for cid, invitation_id in by_contact.items() if invitation_id in untouched
    }

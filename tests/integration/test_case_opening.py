"""Opening cases: the Responses stream read out of moto and handed to response_flow opens one case
per response, assigned, dated in business time, with its script and first SLA step; a change of
the response moves or mirrors it; reassigning is version-checked (docs/callbacks.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pynamodb.attributes import UTCDateTimeAttribute

from closeloop import clock
from closeloop.errors import Conflict
from closeloop.models import Case, Response
from closeloop.rules.sla import timer_shard
from closeloop.services import domain_events
from closeloop.services.assignment import choose_assignee, reassign_case, reassign_open_cases
from closeloop.services.capture import record_response
from closeloop_local.template import ResolvedTemplate
from tests.integration.cases_support import add_caller, add_contact, case_of, fresh_ledger, invitation_for, stored
from tests.integration.dispatch import make_wave
from tests.integration.imports_support import as_function
from tests.integration.responses_support import apply_flow, responses_stream

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # Monday 1 March 2027, 10:00 in Paris


@pytest.fixture
def flow(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process as the response_flow function, its clock frozen at NOW."""
    as_function(stack, monkeypatch, "ResponseFlowFunction")
    monkeypatch.setattr(domain_events.time, "sleep", lambda _seconds: None)
    clock.set_state(frozen_at=NOW)
    fresh_ledger()
    return stack


def answer(score: int, *, owner: str | None = None, phone: str | None = "+33612345678", **options: Any) -> str:
    """A contact answers the survey (the capture's own write); the response id."""
    wave = make_wave()
    invitation = invitation_for(
        wave.wave_id, add_contact(owner=owner, phone=phone, language=options.pop("language", "fr"))
    )
    record_response(invitation.invitation_id, score, options.pop("comment", None), **options)
    return invitation.invitation_id


def test_a_detractors_response_opens_a_case_for_the_account_owner_due_in_two_business_days(flow: Any) -> None:
    owner = add_caller("Paul.Girard@closeloop.example")
    add_caller("anyone@closeloop.example")
    stream = responses_stream()
    response_id = answer(3, owner="paul.girard@closeloop.example", comment="Livraison en retard.")

    assert apply_flow(stream.read()) == {"batchItemFailures": []}

    case = case_of(response_id)
    response = Response.get(response_id)
    assert (case.status, case.category, case.score, case.confirmed) == ("open", "detractor", 3, True)
    assert (case.assignee_id, case.assignment, case.assigned_at) == (owner.staff_id, "owner", NOW)
    assert case.script == "detractor.fr"
    assert case.responded_at == response.created_at == NOW
    assert case.opened_at == NOW
    # Monday 10:00 + 18 business hours: Wednesday 10:00 Paris
    assert case.due_at == case.queue_due_at == datetime(2027, 3, 3, 9, 0, tzinfo=UTC)
    # the reminder at 75%: 13.5 business hours, Tuesday 14:30 Paris
    assert (case.next_timer_step, case.next_timer_at) == ("remind", datetime(2027, 3, 2, 13, 30, tzinfo=UTC))
    assert case.timer_shard == timer_shard(response_id)
    assert case.has_phone is True
    assert (case.contact_id, case.wave_id, case.segment, case.language) == (
        response.contact_id,
        response.wave_id,
        "pharmacy",
        "fr",
    )
    item = stored(response_id)
    assert "comment" not in item  # no personal data on the case
    assert "Livraison" not in str(item)
    assert {"first_exchange_at", "fallback_at", "closed_at", "breached_at"}.isdisjoint(item)


def test_a_promoter_in_english_gets_ten_business_days_and_the_english_script(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(10, language="en")

    apply_flow(stream.read())

    case = case_of(response_id)
    assert (case.category, case.script, case.assignment) == ("promoter", "promoter.en", "load")
    assert case.due_at == datetime(2027, 3, 15, 9, 0, tzinfo=UTC)  # two weeks of working days


def test_an_unconfirmed_response_opens_a_case_flagged_and_its_confirmation_is_mirrored(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    wave = make_wave()
    invitation = invitation_for(wave.wave_id, add_contact())
    record_response(invitation.invitation_id, 8, None, source="click", confirmed=False)
    apply_flow(stream.read())
    assert case_of(invitation.invitation_id).confirmed is False

    # When the customer confirms the same score later
    clock.set_state(frozen_at=NOW + timedelta(hours=1))
    record_response(invitation.invitation_id, 8, None)
    apply_flow(stream.read())

    case = case_of(invitation.invitation_id)
    assert (case.confirmed, case.category, case.due_at) == (True, "passive", datetime(2027, 3, 15, 9, 0, tzinfo=UTC))


def test_a_record_handed_over_twice_opens_one_case_and_assigns_it_once(flow: Any) -> None:
    first, _second = sorted(
        (add_caller("first@closeloop.example"), add_caller("second@closeloop.example")), key=lambda s: s.staff_id
    )
    stream = responses_stream()
    response_id = answer(5)
    records = stream.read()

    apply_flow(records)
    opened = case_of(response_id)
    apply_flow(records)

    again = case_of(response_id)
    assert again.version == opened.version == 1
    assert again.assignee_id == opened.assignee_id == first.staff_id  # equal loads: the lower staff id


def test_an_owner_who_is_full_inactive_or_not_a_caller_gives_way_to_the_least_loaded_caller(flow: Any) -> None:
    add_caller("full@closeloop.example", capacity=5, open_cases=5)
    add_caller("gone@closeloop.example", active=False)
    add_caller("boss@closeloop.example", groups=frozenset({"manager"}))
    busy = add_caller("busy@closeloop.example", capacity=10, open_cases=6)
    light = add_caller("light@closeloop.example", capacity=40, open_cases=20)  # 50% < 60%
    stream = responses_stream()
    ids = [
        answer(2, owner=owner)
        for owner in ("full@closeloop.example", "gone@closeloop.example", "boss@closeloop.example")
    ]

    apply_flow(stream.read())

    # 20/40 -> 21/40 -> 22/40 all stay under 6/10
    assert [(case_of(found).assignee_id, case_of(found).assignment) for found in ids] == [(light.staff_id, "load")] * 3
    assert busy.staff_id not in {case_of(found).assignee_id for found in ids}


def test_a_contact_without_a_phone_opens_a_case_that_says_so(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(6, phone=None)

    apply_flow(stream.read())

    assert case_of(response_id).has_phone is False


def test_with_nobody_in_the_pool_the_case_opens_without_an_assignee_for_managers_to_see(flow: Any) -> None:
    add_caller("boss@closeloop.example", groups=frozenset({"manager"}))
    stream = responses_stream()
    response_id = answer(1)

    assert apply_flow(stream.read()) == {"batchItemFailures": []}

    item = stored(response_id)
    assert item["status"] == "open"
    assert {"assignee_id", "assigned_at", "assignment"}.isdisjoint(item)


def test_when_every_caller_is_full_the_case_goes_to_the_least_loaded_over_capacity(flow: Any) -> None:
    add_caller("a@closeloop.example", capacity=10, open_cases=15)
    less = add_caller("b@closeloop.example", capacity=10, open_cases=12)
    add_caller("never@closeloop.example", capacity=0)
    stream = responses_stream()
    response_id = answer(4)

    apply_flow(stream.read())

    assert (case_of(response_id).assignee_id, case_of(response_id).assignment) == (less.staff_id, "load")


def test_a_score_that_changes_category_moves_the_due_date_the_script_and_the_timer(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(9)
    apply_flow(stream.read())
    assert case_of(response_id).due_at == datetime(2027, 3, 15, 9, 0, tzinfo=UTC)

    # When the customer changes their answer to a 4 an hour later (before any call)
    clock.set_state(frozen_at=NOW + timedelta(hours=1))
    record_response(response_id, 4, "En fait non.")
    assert apply_flow(stream.read()) == {"batchItemFailures": []}

    case = case_of(response_id)
    assert (case.category, case.score, case.script) == ("detractor", 4, "detractor.fr")
    assert case.due_at == case.queue_due_at == datetime(2027, 3, 3, 9, 0, tzinfo=UTC)  # from the response's time
    assert (case.next_timer_step, case.next_timer_at) == ("remind", datetime(2027, 3, 2, 13, 30, tzinfo=UTC))


def test_after_a_reminder_fired_a_moved_case_waits_for_its_escalation_only(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(8)
    apply_flow(stream.read())
    case = case_of(response_id)
    case.update(actions=[Case.last_timer.set(f"remind@{NOW.isoformat()}")], add_version_condition=False)

    record_response(response_id, 2, None)
    apply_flow(stream.read())

    moved = case_of(response_id)
    assert (moved.next_timer_step, moved.next_timer_at) == ("escalate#1", datetime(2027, 3, 3, 9, 0, tzinfo=UTC))


def test_after_the_first_exchange_a_new_score_is_mirrored_but_the_due_date_stays(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(3)
    apply_flow(stream.read())
    case = case_of(response_id)
    case.update(
        actions=[Case.first_exchange_at.set(NOW + timedelta(hours=2)), Case.first_exchange_kind.set("call")],
        add_version_condition=False,
    )

    # The caller records the score the customer gives on the phone (data-model 7.4)
    Response(response_id).update(
        actions=[Response.score.set(9), Response.category.set("promoter"), Response.source.set("phone")]
    )
    apply_flow(stream.read())

    after = case_of(response_id)
    assert (after.score, after.category) == (9, "promoter")
    assert (after.due_at, after.script) == (case.due_at, "detractor.fr")


def test_a_change_whose_case_was_never_opened_opens_it_from_the_new_image(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(9)
    inserted = stream.read()  # its records are lost: the opening never happened
    assert inserted

    record_response(response_id, 6, None)
    apply_flow(stream.read())

    case = case_of(response_id)
    assert (case.category, case.score, case.status) == ("detractor", 6, "open")
    assert case.responded_at == NOW


def test_reassigning_is_checked_against_the_version_read(flow: Any) -> None:
    first = add_caller("first@closeloop.example")
    second = add_caller("second@closeloop.example")
    stream = responses_stream()
    response_id = answer(5, owner="first@closeloop.example")
    apply_flow(stream.read())
    case = case_of(response_id)
    assert case.assignee_id == first.staff_id

    moved = reassign_case(response_id, to_staff_id=second.staff_id, assignment="manual", expected_version=case.version)

    assert (moved.assignee_id, moved.assignment, moved.version) == (second.staff_id, "manual", case.version + 1)
    with pytest.raises(Conflict, match="reload"):
        reassign_case(response_id, to_staff_id=first.staff_id, assignment="manual", expected_version=case.version)
    assert case_of(response_id).assignee_id == second.staff_id


def test_a_closed_case_cannot_be_reassigned(flow: Any) -> None:
    other = add_caller("other@closeloop.example")
    stream = responses_stream()
    response_id = answer(5)
    apply_flow(stream.read())
    case = case_of(response_id)
    case.update(actions=[Case.status.set("closed")], add_version_condition=False)

    with pytest.raises(Conflict, match="closed"):
        reassign_case(response_id, to_staff_id=other.staff_id, assignment="manual", expected_version=case.version)


def test_a_leaving_callers_open_cases_go_to_the_others_and_never_back_to_them(flow: Any) -> None:
    leaving = add_caller("leaving@closeloop.example")
    stream = responses_stream()
    ids = [answer(score, owner="leaving@closeloop.example") for score in (2, 8, 10)]
    apply_flow(stream.read())
    assert {case_of(found).assignee_id for found in ids} == {leaving.staff_id}
    closed = case_of(ids[2])
    closed.update(actions=[Case.status.set("closed"), Case.queue_due_at.remove()], add_version_condition=False)
    others = [add_caller("a@closeloop.example"), add_caller("b@closeloop.example")]

    assert reassign_open_cases(leaving.staff_id) == 2
    assert reassign_open_cases(leaving.staff_id) == 0  # run again: nothing left to move

    moved = [case_of(found) for found in ids[:2]]
    assert {case.assignee_id for case in moved} == {other.staff_id for other in others}  # spread, one each
    assert {case.assignment for case in moved} == {"handback"}
    assert case_of(ids[2]).assignee_id == leaving.staff_id  # a closed case keeps its history


def test_choose_assignee_excludes_who_hands_a_case_back(flow: Any) -> None:
    owner = add_caller("owner@closeloop.example")
    other = add_caller("other@closeloop.example", open_cases=19)
    contact = add_contact(owner="owner@closeloop.example")

    assert choose_assignee(contact) == (owner.staff_id, "owner")
    assert choose_assignee(contact, exclude=frozenset({owner.staff_id})) == (other.staff_id, "load")
    assert choose_assignee(None, exclude=frozenset({owner.staff_id, other.staff_id})) == (None, "load")


def test_a_zero_is_stored_as_a_number_and_opens_a_detractor_case(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(0)
    apply_flow(stream.read())
    item = stored(response_id)
    assert (item["score"], item["category"], Decimal(item["version"])) == ("0", "detractor", 1)


def test_a_closed_case_whose_score_changes_is_mirrored_and_stays_out_of_the_queue(flow: Any) -> None:
    add_caller("caller@closeloop.example")
    stream = responses_stream()
    response_id = answer(9)
    apply_flow(stream.read())
    case = case_of(response_id)
    case.update(
        actions=[
            Case.status.set("closed"),
            Case.close_reason.set("unreachable"),
            Case.queue_due_at.remove(),
            Case.timer_shard.remove(),
            Case.next_timer_at.remove(),
            Case.next_timer_step.remove(),
        ],
        add_version_condition=False,
    )

    record_response(response_id, 3, None)
    apply_flow(stream.read())

    item = stored(response_id)
    assert (item["category"], item["score"], item["status"]) == ("detractor", "3", "closed")
    assert {"queue_due_at", "next_timer_at", "next_timer_step"}.isdisjoint(item)
    assert item["due_at"] == UTCDateTimeAttribute().serialize(case.due_at)  # not moved

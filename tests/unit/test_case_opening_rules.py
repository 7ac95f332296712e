"""What a Responses stream record asks of its case, the script name, and the SLA step of a case
whose category moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closeloop.rules.case_opening import change_of, fired_step, script_of, timer_after_move
from closeloop.rules.sla import Sla

KEYS = {"response_id": "abc"}
RESPONSE = {**KEYS, "score": 8, "category": "passive", "confirmed": True, "contact_id": "C", "wave_id": "W"}


@pytest.mark.parametrize(
    ("name", "new", "old", "change"),
    [
        ("INSERT", RESPONSE, None, "open"),
        ("INSERT", KEYS, None, "none"),  # moto: the keys of an upserted item first
        ("MODIFY", RESPONSE, KEYS, "open"),  # ... then the whole item
        ("MODIFY", {**RESPONSE, "score": 3, "category": "detractor"}, RESPONSE, "move"),
        ("MODIFY", {**RESPONSE, "score": 7}, RESPONSE, "mirror"),
        ("MODIFY", {**RESPONSE, "confirmed": False}, RESPONSE, "mirror"),
        ("MODIFY", {**RESPONSE, "comment": "Bien.", "has_comment": True}, RESPONSE, "none"),
        ("MODIFY", {**RESPONSE, "locked_at": "2027-03-01T09:00:00.000000+0000"}, RESPONSE, "none"),
        ("REMOVE", None, RESPONSE, "none"),
    ],
)
def test_what_a_record_asks_of_the_case(name: str, new: dict | None, old: dict | None, change: str) -> None:  # type: ignore[type-arg]
    assert change_of(name, new, old) == change


def test_the_script_is_the_category_in_the_contacts_language_french_by_default() -> None:
    assert script_of("detractor", "en") == "detractor.en"
    assert script_of("promoter", None) == "promoter.fr"
    assert script_of("passive", "de") == "passive.fr"


NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
LATER = Sla(due_at=NOW + timedelta(days=5), remind_at=NOW + timedelta(days=3))
PAST = Sla(due_at=NOW - timedelta(hours=3), remind_at=NOW - timedelta(days=1))


def test_with_no_step_fired_a_moved_case_starts_its_timers_over() -> None:
    moved = timer_after_move(LATER, None, NOW)
    assert (moved.step, moved.at, moved.keeps_breach) == ("remind", LATER.remind_at, True)


def test_a_reminder_is_sent_once_per_case() -> None:
    moved = timer_after_move(LATER, f"remind@{NOW.isoformat()}", NOW)
    assert (moved.step, moved.at) == ("escalate#1", LATER.due_at)


def test_a_case_already_late_under_its_new_sla_escalates_at_once_without_a_reminder() -> None:
    moved = timer_after_move(PAST, None, NOW)
    assert (moved.step, moved.at) == ("escalate#1", PAST.due_at)


def test_an_escalated_case_still_late_keeps_its_daily_chain() -> None:
    moved = timer_after_move(PAST, "escalate#2@2027-03-09T09:00:00+00:00", NOW)
    assert (moved.step, moved.at, moved.keeps_breach) == (None, None, True)


def test_an_escalated_case_that_is_not_late_any_more_loses_its_breach() -> None:
    moved = timer_after_move(LATER, "escalate#1@2027-03-09T09:00:00+00:00", NOW)
    assert (moved.step, moved.at, moved.keeps_breach) == ("escalate#1", LATER.due_at, False)


def test_the_step_fired_is_read_from_last_timer() -> None:
    assert [fired_step(None), fired_step("remind@x"), fired_step("escalate#3@x")] == [-1, 0, 3]

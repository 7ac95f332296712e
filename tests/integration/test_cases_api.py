"""The cases API through its function on moto: a caller's queue, a case's detail, logging attempts
and what they do to the case and the response, hand back, the managers' lists, reassignment and
the irritant taxonomy, and who may do what."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Attempt, Case, Response, Staff, Taxonomy
from closeloop.services import capture, taxonomy
from closeloop.services.assignment import forget_picks
from closeloop.tokens import survey_token
from closeloop_local.template import ResolvedTemplate
from tests.integration import capture_support
from tests.integration.callbacks_support import (
    add_customer,
    add_response,
    add_staff_member,
    call,
    case_for,
    later,
    open_case,
    stored_case,
)
from tests.integration.imports_support import as_function
from tests.integration.responses_support import (
    apply_counters,
    cancelled_transactions,
    nps_item,
    responses_stream,
)
from tests.integration.ses_events_support import emitted

NOW = datetime(2027, 3, 2, 8, 30, tzinfo=UTC)  # a Tuesday, 9:30 in Paris
MANAGER = "[caller manager]"
EN = {"Accept-Language": "en"}  # the test staff's tokens say locale fr: these readers ask for English
FR = {"Accept-Language": "fr"}


@pytest.fixture
def api(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process as the cases function, its clock frozen at NOW, with a small taxonomy."""
    as_function(stack, monkeypatch, "CasesApiFunction")
    clock.set_state(frozen_at=NOW)
    taxonomy.forget()
    forget_picks()
    taxonomy.add_tag(tag="price", label_fr="Prix", label_en="Price", department="sales")
    taxonomy.add_tag(tag="delivery", label_fr="Livraison", label_en="Delivery", department="logistics")
    retired = taxonomy.add_tag(tag="fax", label_fr="Télécopie", label_en="Fax")
    taxonomy.edit_tag("fax", version=retired.version, active=False)
    return stack


@pytest.fixture
def hugo(api: ResolvedTemplate) -> Staff:
    return add_staff_member("hugo.bernard@demo.closeloop.example", "Hugo Bernard")


@pytest.fixture
def lea(api: ResolvedTemplate) -> Staff:
    return add_staff_member("lea.petit@demo.closeloop.example", "Léa Petit", language="en")


@pytest.fixture
def claire(api: ResolvedTemplate) -> Staff:
    return add_staff_member(
        "claire.martin@demo.closeloop.example", "Claire Martin", groups=frozenset({"caller", "manager"})
    )


def attempt(
    case: Case, who: Staff, groups: str = "[caller]", *, language: str | None = None, **body: Any
) -> tuple[int, Any]:
    """One attempt POSTed as a client does: with an Idempotency-Key of its own (and Accept-Language
    when `language` is given)."""
    headers = {"Idempotency-Key": f"attempt-{new_id()}"}
    if language:
        headers["Accept-Language"] = language
    return call("POST", f"/cases/{case.case_id}/attempts", body, who=who, groups=groups, headers=headers)


def attempts_of(case: Case) -> list[Attempt]:
    return list(Attempt.query(case.case_id, consistent_read=True))


def response_of(case: Case) -> Response:
    return Response.get(case.case_id, consistent_read=True)


# ------------------------------------------------------------------ the queue


def test_my_queue_shows_overdue_cases_first_then_by_due_date_with_the_customer(hugo: Staff, lea: Staff) -> None:
    # Given Hugo's cases: a promoter due in 2 weeks, a detractor due tomorrow, and one overdue
    promoter = case_for(hugo, score=10, first_name="Paul", last_name="Durand", company="Pharmacie Durand")
    detractor = case_for(hugo, score=2, first_name="Anne", last_name="Moreau", company="Pharmacie du Parc")
    overdue = case_for(
        hugo, score=5, confirmed=False, responded_at=NOW - timedelta(days=6), first_name="Luc", company=None
    )
    closed = case_for(hugo, score=1)
    closed.update(actions=[Case.status.set("closed"), Case.queue_due_at.remove()])
    case_for(lea, score=0)  # someone else's

    status, queue = call("GET", "/cases/mine", who=hugo)

    assert status == 200
    assert [entry["case_id"] for entry in queue["cases"]] == [overdue.case_id, detractor.case_id, promoter.case_id]
    first = queue["cases"][0]
    assert (first["overdue"], first["category"], first["confirmed"], first["score"]) == (True, "detractor", False, 5)
    assert first["customer"] == {"name": "Luc Moreau", "company": None}
    assert queue["cases"][1]["customer"] == {"name": "Anne Moreau", "company": "Pharmacie du Parc"}
    assert queue["cases"][1]["due_at"] == "2027-03-04T08:30:00Z"  # 2 business days (18 business hours)
    assert [entry["overdue"] for entry in queue["cases"]] == [True, False, False]
    assert queue["overdue"] == 1


def test_a_case_past_its_due_date_that_had_its_first_exchange_is_not_overdue_and_comes_after_the_overdue_ones(
    hugo: Staff,
) -> None:
    # Given a case reached last week and awaiting its second exchange, and a case overdue since yesterday
    waiting = case_for(hugo, score=3, responded_at=NOW - timedelta(days=12))
    waiting.update(
        actions=[
            Case.status.set("awaiting_second"),
            Case.first_exchange_at.set(NOW - timedelta(days=10)),
            Case.first_exchange_kind.set("call"),
        ]
    )
    overdue = case_for(hugo, score=4, responded_at=NOW - timedelta(days=5))

    status, queue = call("GET", "/cases/mine", who=hugo)

    assert status == 200
    assert [entry["case_id"] for entry in queue["cases"]] == [overdue.case_id, waiting.case_id]
    assert [entry["overdue"] for entry in queue["cases"]] == [True, False]


def test_the_queue_a_case_and_the_managers_list_give_the_time_their_due_dates_are_measured_against(
    hugo: Staff, claire: Staff
) -> None:
    case = case_for(hugo, score=3)

    answers = [
        call("GET", "/cases/mine", who=hugo),
        call("GET", f"/cases/{case.case_id}", who=hugo),
        call("GET", "/cases", who=claire, groups=MANAGER),
    ]

    assert [status for status, _ in answers] == [200, 200, 200]
    assert [answer["as_of"] for _, answer in answers] == ["2027-03-02T08:30:00Z"] * 3


def test_someone_not_in_the_staff_directory_has_no_queue(api: ResolvedTemplate) -> None:
    stranger = Staff("01STRANGER0000000000000000", email="stranger@example.com", name="X")

    status, answer = call("GET", "/cases/mine", who=stranger, headers=EN)

    assert status == 403
    assert answer["message"] == "you are not in the staff directory"


# ------------------------------------------------------------------ the detail


def test_a_case_shows_the_customer_the_answer_the_mail_the_attempts_the_script_and_the_history(hugo: Staff) -> None:
    case = case_for(
        hugo,
        score=4,
        comment="Livraisons en retard deux fois ce mois-ci.",
        responded_at=NOW - timedelta(hours=1),
        first_name="Anne",
        last_name="Moreau",
        company="Pharmacie du Parc",
        phone="+33612345678",
    )
    later(1)
    assert attempt(case, hugo, outcome="no_answer")[0] == 201

    status, shown = call("GET", f"/cases/{case.case_id}", who=hugo)

    assert status == 200
    assert shown["customer"]["name"] == "Anne Moreau"
    assert shown["customer"]["company"] == "Pharmacie du Parc"
    assert shown["customer"]["phone"] == "+33612345678"
    assert shown["customer"]["language"] == "fr"
    assert shown["customer"]["email"].startswith("anne.")
    assert shown["response"]["score"] == 4
    assert shown["response"]["comment"] == "Livraisons en retard deux fois ce mois-ci."
    assert shown["response"]["locked_at"] == "2027-03-02T09:30:00Z"
    assert shown["assignee"] == {"staff_id": hugo.staff_id, "name": "Hugo Bernard", "email": hugo.email}
    assert [a["outcome"] for a in shown["attempts"]] == ["no_answer"]
    assert shown["messages"] == []
    assert [event["event"] for event in shown["history"]] == ["opened", "assigned", "attempt"]
    assert shown["version"] == 2
    script = shown["script"]
    assert script is not None
    text = str(script)
    assert "Anne Moreau" in text
    assert "Hugo Bernard" in text
    assert "Vous appelez" in text  # French: the customer's language


def test_the_script_comes_in_the_language_asked(hugo: Staff) -> None:
    case = case_for(hugo, score=9, language="fr", first_name="Anne")

    status, shown = call("GET", f"/cases/{case.case_id}", who=hugo, query={"lang": "en"})

    assert status == 200
    assert shown["script"]["language"] == "en"
    assert "Anne" in str(shown["script"])


def test_a_case_is_shown_to_its_assignee_and_the_managers_only(hugo: Staff, lea: Staff, claire: Staff) -> None:
    case = case_for(hugo, score=3)

    assert call("GET", f"/cases/{case.case_id}", who=claire, groups=MANAGER)[0] == 200
    status, answer = call("GET", f"/cases/{case.case_id}", who=lea, headers=EN)
    assert status == 403
    assert "assigned to someone else" in answer["message"]
    assert attempt(case, lea, outcome="no_answer")[0] == 403
    assert attempts_of(case) == []


def test_an_unknown_case_is_404(hugo: Staff) -> None:
    assert call("GET", "/cases/aaaaaaaaaaaaaaaaaaaaaaaaaa", who=hugo, groups=MANAGER)[0] == 404


# ------------------------------------------------------------------ attempts


def test_two_failed_calls_count_as_failed_and_leave_the_case_open(hugo: Staff) -> None:
    case = case_for(hugo, score=2)

    for outcome in ("no_answer", "voicemail"):
        status, answer = attempt(case, hugo, outcome=outcome, notes="Rappeler après 14 h")
        assert status == 201
        later(0.5)

    stored = stored_case(case.case_id)
    assert (stored.attempt_count, stored.failed_attempt_count, stored.status) == (2, 2, "open")
    assert stored.first_exchange_at is None
    assert stored.next_timer_at is not None  # the SLA still runs
    assert answer["case"]["failed_attempt_count"] == 2
    assert answer["attempt"]["outcome"] == "voicemail"
    assert answer["attempt"]["staff_id"] == hugo.staff_id
    assert [a.notes for a in attempts_of(case)] == ["Rappeler après 14 h", "Rappeler après 14 h"]


def test_a_reached_call_records_the_first_exchange_with_its_delays_and_stops_the_timers(hugo: Staff) -> None:
    # Given a response on Friday evening, reached on Monday at 10:00 Paris
    friday = datetime(2027, 3, 5, 17, 0, tzinfo=UTC)  # 18:00 Paris: business day over
    case = case_for(hugo, score=5, responded_at=friday)
    clock.set_state(frozen_at=datetime(2027, 3, 8, 9, 0, tzinfo=UTC))

    status, answer = attempt(
        case, hugo, outcome="reached", promise="improvement_loop", wants_follow_up=True, tags=["delivery"]
    )

    assert status == 201
    stored = stored_case(case.case_id)
    assert stored.status == "awaiting_second"
    assert stored.first_exchange_at == datetime(2027, 3, 8, 9, 0, tzinfo=UTC)
    assert stored.first_exchange_kind == "call"
    assert (float(stored.first_delay_h), float(stored.first_delay_bh)) == (64.0, 1.0)
    assert (stored.timer_shard, stored.next_timer_at, stored.next_timer_step) == (None, None, None)
    assert (stored.promise, stored.wants_follow_up, stored.tags) == ("improvement_loop", True, {"delivery"})
    assert stored.queue_due_at is not None  # still in the queue, waiting for the second exchange
    assert answer["case"]["first_exchange"] == {
        "at": "2027-03-08T09:00:00Z",
        "kind": "call",
        "delay_h": 64.0,
        "delay_bh": 1.0,
    }

    # When the answer is delivered on a later call
    later(48)
    status, answer = attempt(case, hugo, outcome="reached", second_exchange=True)

    assert status == 201
    closed = stored_case(case.case_id)
    assert (closed.status, closed.close_reason, closed.second_exchange_kind) == ("closed", "loop_closed", "call")
    assert closed.second_exchange_at == datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
    assert closed.first_exchange_at == datetime(2027, 3, 8, 9, 0, tzinfo=UTC)
    assert closed.closed_at == closed.second_exchange_at
    assert closed.queue_due_at is None
    assert call("GET", "/cases/mine", who=hugo)[1]["cases"] == []


def test_a_solution_given_on_the_call_closes_the_case_with_both_exchanges_at_once(hugo: Staff) -> None:
    case = case_for(hugo, score=7, responded_at=NOW - timedelta(hours=2))

    status, answer = attempt(case, hugo, outcome="reached", promise="solution_now", wants_follow_up=False)

    assert status == 201
    stored = stored_case(case.case_id)
    assert stored.status == "closed"
    assert stored.second_exchange_at == stored.first_exchange_at == NOW
    assert (float(stored.second_delay_h), float(stored.first_delay_h)) == (2.0, 2.0)
    assert answer["case"]["status"] == "closed"


def test_a_declined_call_closes_the_case_with_nothing_promised(hugo: Staff) -> None:
    case = case_for(hugo, score=1)

    assert attempt(case, hugo, outcome="declined")[0] == 201

    stored = stored_case(case.case_id)
    assert (stored.status, stored.promise, stored.first_exchange_kind) == ("closed", "none", "call")


def test_a_closed_case_takes_no_more_attempts(hugo: Staff) -> None:
    case = case_for(hugo, score=1)
    attempt(case, hugo, outcome="declined")

    status, answer = attempt(case, hugo, outcome="no_answer", language="en")

    assert status == 409
    assert "closed" in answer["message"]
    assert len(attempts_of(case)) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"outcome": "reached", "tags": ["parking"], "promise": "none"}, "unknown tag: parking"),
        ({"outcome": "no_answer", "tags": ["fax"]}, "tag fax is no longer in use"),
        ({"outcome": "reached"}, "records what was promised"),
        ({"outcome": "no_answer", "confirmed_score": 4}, "records no confirmed_score"),
    ],
)
def test_an_attempt_that_breaks_a_rule_is_refused_with_its_reason(
    hugo: Staff, body: dict[str, Any], reason: str
) -> None:
    case = case_for(hugo, score=3)

    status, answer = attempt(case, hugo, language="en", **body)

    assert status == 400
    assert reason in answer["message"]
    assert attempts_of(case) == []
    assert response_of(case).locked_at is None


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "called"},
        {"outcome": "reached", "promise": "everything"},
        {"outcome": "no_answer", "notes": "x" * 5001},
        {"outcome": "reached", "promise": "none", "confirmed_score": 11},
        {"outcome": "no_answer", "tags": ["Not A Slug"]},
    ],
)
def test_a_malformed_attempt_is_a_400_naming_the_field(hugo: Staff, body: dict[str, Any]) -> None:
    case = case_for(hugo, score=3)

    status, answer = attempt(case, hugo, **body)

    assert status == 400
    assert answer["error"] == "invalid_input"
    assert answer["details"]


def test_a_retried_post_with_the_same_idempotency_key_logs_once(hugo: Staff) -> None:
    case = case_for(hugo, score=3)
    headers = {"Idempotency-Key": "attempt-7f3a"}

    first = call("POST", f"/cases/{case.case_id}/attempts", {"outcome": "no_answer"}, who=hugo, headers=headers)
    again = call("POST", f"/cases/{case.case_id}/attempts", {"outcome": "no_answer"}, who=hugo, headers=headers)

    assert first[0] == again[0] == 201
    assert first[1]["attempt"] == again[1]["attempt"]
    assert len(attempts_of(case)) == 1
    assert stored_case(case.case_id).attempt_count == 1


def test_an_attempt_without_an_idempotency_key_is_refused_with_the_reason_and_nothing_logged(hugo: Staff) -> None:
    case = case_for(hugo, score=3)

    status, answer = call("POST", f"/cases/{case.case_id}/attempts", {"outcome": "no_answer"}, who=hugo, headers=EN)

    assert status == 400
    assert "an Idempotency-Key header is required" in answer["message"]
    assert attempts_of(case) == []
    assert stored_case(case.case_id).attempt_count == 0


def test_two_attempts_logged_at_once_are_both_kept(hugo: Staff, claire: Staff) -> None:
    case = case_for(hugo, score=2)
    answers: list[tuple[int, Any]] = []

    def log(who: Staff, groups: str) -> None:
        answers.append(attempt(case, who, groups, outcome="no_answer"))

    threads = [
        threading.Thread(target=log, args=(hugo, "[caller]")),
        threading.Thread(target=log, args=(claire, MANAGER)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in answers] == [201, 201]
    assert {a.staff_id for a in attempts_of(case)} == {hugo.staff_id, claire.staff_id}
    stored = stored_case(case.case_id)
    assert (stored.attempt_count, stored.failed_attempt_count) == (2, 2)


def test_an_attempt_cancelled_by_a_concurrent_transaction_is_written_on_a_retry(hugo: Staff) -> None:
    from closeloop import aws

    case = case_for(hugo, score=2)

    with cancelled_transactions(aws.client("dynamodb"), times=2) as cancelled:
        status, _ = attempt(case, hugo, outcome="reached", promise="none")

    assert status == 201
    assert cancelled == [3, 3]  # attempt, case, response: all or nothing
    assert len(attempts_of(case)) == 1
    assert stored_case(case.case_id).status == "closed"


def test_an_attempt_that_keeps_conflicting_is_a_503_and_nothing_is_written(hugo: Staff) -> None:
    from closeloop import aws

    case = case_for(hugo, score=2)

    with cancelled_transactions(aws.client("dynamodb"), times=3):
        status, answer = attempt(case, hugo, outcome="no_answer", language="en")

    assert status == 503
    assert "try again" in answer["message"]
    assert attempts_of(case) == []
    assert stored_case(case.case_id).attempt_count == 0


def test_an_attempt_counts_in_the_attempts_logged_metric_by_outcome(
    hugo: Staff, capsys: pytest.CaptureFixture[str]
) -> None:
    case = case_for(hugo, score=2)
    capsys.readouterr()

    attempt(case, hugo, outcome="voicemail")

    output = capsys.readouterr().out
    assert emitted(output).get("attempts_logged") == 1
    assert '"outcome": "voicemail"' in output or '"outcome":"voicemail"' in output


def test_a_case_holds_five_tags_at_most(hugo: Staff) -> None:
    for tag in ("a1", "a2", "a3", "a4", "a5"):
        taxonomy.add_tag(tag=tag, label_fr=tag, label_en=tag)
    case = case_for(hugo, score=2)
    assert attempt(case, hugo, outcome="no_answer", tags=["a1", "a2", "a3", "a4"])[0] == 201

    status, answer = attempt(case, hugo, outcome="no_answer", tags=["a5", "price"], language="en")

    assert status == 400
    assert "5 tags at most" in answer["message"]
    assert stored_case(case.case_id).tags == {"a1", "a2", "a3", "a4"}


# ------------------------------------------------------------------ the response


def test_the_first_attempt_closes_the_response_to_the_customers_edits(
    stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch, hugo: Staff
) -> None:
    # Given a customer who answered through the survey page, and the case it opened
    invitation = capture_support.sent_invitation(language="en", first_name="Emily")
    token = survey_token(invitation.invitation_id)
    capture.record_response(invitation.invitation_id, 3, "Slow answers")
    case = open_case(response_of(Case(invitation.invitation_id)), hugo)

    # When the caller logs a first attempt (nobody answered)
    assert attempt(case, hugo, outcome="no_answer")[0] == 201

    # Then the customer's score link shows the "with the team" page, and a new answer changes nothing
    as_function(stack, monkeypatch, "CaptureFunction")
    opened = capture_support.call("GET", token, "9")
    posted = capture_support.call("POST", token, form={"score": "9", "comment": "All good now"})
    assert opened.status == 200
    assert "Your answer is with our team" in " ".join(opened.body.split())
    assert posted.status == 409
    assert (int(response_of(case).score), response_of(case).comment) == (3, "Slow answers")


def test_an_unconfirmed_response_confirmed_on_the_phone_counts_as_confirmed(hugo: Staff) -> None:
    # Given an unconfirmed response (a promoted click) counted as such, and its case
    invitation = capture_support.sent_invitation(language="fr")
    stream = responses_stream()
    capture.record_response(invitation.invitation_id, 6, None, source="click", confirmed=False)
    apply_counters(stream.read())
    assert (nps_item("all").get("n_det_u"), nps_item("all").get("n_det_c", 0)) == (1, 0)
    case = open_case(response_of(Case(invitation.invitation_id)), hugo)

    # When the customer confirms on the phone, correcting the score to 8
    status, _ = attempt(case, hugo, outcome="reached", confirmed_score=8, promise="none")

    # Then the response is confirmed, by phone, as a passive, and the counters move from u to c
    assert status == 201
    response = response_of(case)
    assert (int(response.score), response.category, response.confirmed, response.source) == (
        8,
        "passive",
        True,
        "phone",
    )
    assert int(response.first_score) == 8
    apply_counters(stream.read())
    counted = nps_item("all")
    assert (counted.get("n_det_u", 0), counted.get("n_pas_c")) == (0, 1)


def test_a_confirmed_score_unchanged_only_locks_the_response(hugo: Staff) -> None:
    contact = add_customer()
    response = add_response(contact, score=4)
    case = open_case(response, hugo)

    attempt(case, hugo, outcome="reached", confirmed_score=4, promise="none")

    stored = response_of(case)
    assert (int(stored.score), stored.source, stored.version) == (4, "form", 1)
    assert stored.locked_at == NOW


# ------------------------------------------------------------------ hand back and reassign


def test_the_assignee_hands_a_case_back_to_another_caller(hugo: Staff, lea: Staff) -> None:
    case = case_for(hugo, score=3)

    status, moved = call("POST", f"/cases/{case.case_id}/hand-back", {"version": case.version}, who=hugo)

    assert status == 200
    assert (moved["assignee_id"], moved["assignment"]) == (lea.staff_id, "handback")
    assert stored_case(case.case_id).assignee_id == lea.staff_id


def test_only_the_assignee_hands_a_case_back_and_a_stale_version_is_a_409(hugo: Staff, lea: Staff) -> None:
    case = case_for(hugo, score=3)

    assert call("POST", f"/cases/{case.case_id}/hand-back", {"version": case.version}, who=lea)[0] == 403
    status, answer = call(
        "POST", f"/cases/{case.case_id}/hand-back", {"version": case.version - 1}, who=hugo, headers=EN
    )
    assert status == 409
    assert "reload" in answer["message"]
    assert stored_case(case.case_id).assignee_id == hugo.staff_id


def test_a_case_nobody_else_can_take_stays_with_its_assignee(hugo: Staff) -> None:
    case = case_for(hugo, score=3)

    status, answer = call("POST", f"/cases/{case.case_id}/hand-back", {"version": case.version}, who=hugo, headers=EN)

    assert status == 409
    assert "no other caller" in answer["message"]


def test_a_manager_reassigns_a_case_and_a_stale_version_is_told_to_reload(
    hugo: Staff, lea: Staff, claire: Staff
) -> None:
    case = case_for(hugo, score=3)

    status, moved = call(
        "POST",
        f"/cases/{case.case_id}/reassign",
        {"to_email": lea.email, "version": case.version},
        who=claire,
        groups=MANAGER,
    )
    stale = call(
        "POST",
        f"/cases/{case.case_id}/reassign",
        {"to_staff_id": hugo.staff_id, "version": case.version},
        who=claire,
        groups=MANAGER,
    )

    assert status == 200
    assert (moved["assignee_id"], moved["assignment"]) == (lea.staff_id, "manual")
    assert stale[0] == 409
    assert stored_case(case.case_id).assignee_id == lea.staff_id


def test_a_case_is_reassigned_to_an_active_caller_only(hugo: Staff, claire: Staff, api: ResolvedTemplate) -> None:
    manager_only = add_staff_member("marc@demo.closeloop.example", "Marc", groups=frozenset({"manager"}))
    case = case_for(hugo, score=3)

    status, answer = call(
        "POST",
        f"/cases/{case.case_id}/reassign",
        {"to_staff_id": manager_only.staff_id, "version": case.version},
        who=claire,
        groups=MANAGER,
        headers=EN,
    )

    assert status == 400
    assert "not an active caller" in answer["message"]


def test_a_caller_reaching_a_manager_route_gets_403(hugo: Staff, lea: Staff) -> None:
    case = case_for(hugo, score=3)

    refused = [
        call("GET", "/cases", who=hugo),
        call("POST", f"/cases/{case.case_id}/reassign", {"to_staff_id": lea.staff_id, "version": 1}, who=hugo),
        call("POST", "/taxonomy", {"tag": "x", "label_fr": "X", "label_en": "X"}, who=hugo),
        call("PATCH", "/taxonomy/price", {"version": 1, "active": False}, who=hugo),
    ]

    assert [status for status, _ in refused] == [403, 403, 403, 403]
    assert all("manager" in answer["message"] for _, answer in refused)
    assert stored_case(case.case_id).assignee_id == hugo.staff_id


# ------------------------------------------------------------------ managers' lists


def test_managers_list_cases_by_status_with_filters(hugo: Staff, lea: Staff, claire: Staff) -> None:
    overdue = case_for(hugo, score=2, responded_at=NOW - timedelta(days=7))
    unconfirmed = case_for(lea, score=8, confirmed=False, responded_at=NOW - timedelta(minutes=1))
    unassigned = case_for(None, score=9)
    done = case_for(hugo, score=1)
    attempt(done, hugo, outcome="declined")

    def listed(**query: str) -> list[str]:
        status, page = call("GET", "/cases", who=claire, groups=MANAGER, query=query)
        assert status == 200, page
        return [entry["case_id"] for entry in page["cases"]]

    assert listed() == [overdue.case_id, unconfirmed.case_id, unassigned.case_id]
    assert listed(overdue="true") == [overdue.case_id]
    assert listed(overdue="false") == [unconfirmed.case_id, unassigned.case_id]
    assert listed(category="detractor") == [overdue.case_id]
    assert listed(unconfirmed="true") == [unconfirmed.case_id]
    assert listed(assignee="none") == [unassigned.case_id]
    assert listed(assignee=lea.staff_id) == [unconfirmed.case_id]
    assert listed(status="closed") == [done.case_id]
    assert listed(wave="01WAVE0000000000000000000A", category="promoter") == [unassigned.case_id]


def test_managers_page_through_cases_with_a_cursor(hugo: Staff, claire: Staff) -> None:
    cases = [case_for(hugo, score=2, responded_at=NOW - timedelta(minutes=7 * n)) for n in range(5)]
    expected = [case.case_id for case in sorted(cases, key=lambda case: case.due_at)]

    seen: list[str] = []
    query = {"limit": "2"}
    while True:
        status, page = call("GET", "/cases", who=claire, groups=MANAGER, query=query)
        assert status == 200
        seen += [entry["case_id"] for entry in page["cases"]]
        if not page["next_cursor"]:
            break
        query = {"limit": "2", "cursor": page["next_cursor"]}

    assert seen == expected


def test_a_cursor_that_is_not_ours_is_a_400(claire: Staff) -> None:
    status, answer = call("GET", "/cases", who=claire, groups=MANAGER, query={"cursor": "bm90LWEta2V5"}, headers=EN)

    assert status == 400
    assert "cursor is not one this API gave" in answer["message"]


# ------------------------------------------------------------------ the taxonomy


def test_callers_read_the_taxonomy_and_managers_add_and_edit_it(hugo: Staff, claire: Staff) -> None:
    status, added = call(
        "POST",
        "/taxonomy",
        {"tag": "invoicing", "label_fr": "Facturation", "label_en": "Invoicing", "department": "finance"},
        who=claire,
        groups=MANAGER,
    )
    assert status == 201
    assert added == {
        "tag": "invoicing",
        "label_fr": "Facturation",
        "label_en": "Invoicing",
        "department": "finance",
        "active": True,
        "version": 1,
    }

    status, edited = call(
        "PATCH", "/taxonomy/invoicing", {"version": 1, "label_en": "Billing"}, who=claire, groups=MANAGER
    )
    assert (status, edited["label_en"], edited["version"]) == (200, "Billing", 2)
    stale = call("PATCH", "/taxonomy/invoicing", {"version": 1, "active": False}, who=claire, groups=MANAGER)
    assert stale[0] == 409
    again = call("POST", "/taxonomy", {"tag": "price", "label_fr": "P", "label_en": "P"}, who=claire, groups=MANAGER)
    assert again[0] == 409

    status, listed = call("GET", "/taxonomy", who=hugo)
    assert status == 200
    assert [(t["tag"], t["active"]) for t in listed["tags"]] == [
        ("delivery", True),
        ("fax", False),
        ("invoicing", True),
        ("price", True),
    ]


def test_a_deactivated_tag_is_kept_but_no_longer_accepted(hugo: Staff, claire: Staff) -> None:
    tag = call("GET", "/taxonomy", who=hugo)[1]["tags"][-1]
    assert tag["tag"] == "price"
    assert (
        call("PATCH", "/taxonomy/price", {"version": tag["version"], "active": False}, who=claire, groups=MANAGER)[0]
        == 200
    )
    case = case_for(hugo, score=3)

    status, answer = attempt(case, hugo, outcome="no_answer", tags=["price"], language="en")

    assert status == 400
    assert "price is no longer in use" in answer["message"]


def test_the_taxonomy_list_shows_a_change_made_in_another_container_at_once(claire: Staff) -> None:
    # Given this container's taxonomy read before a manager edited "price" elsewhere
    taxonomy.all_tags()
    stored = Taxonomy.get("price")
    stored.update(actions=[Taxonomy.label_en.set("Pricing")])

    status, listed = call("GET", "/taxonomy", who=claire, groups=MANAGER)

    assert status == 200
    [price] = [tag for tag in listed["tags"] if tag["tag"] == "price"]
    assert (price["label_en"], price["version"]) == ("Pricing", stored.version)


def test_a_tag_added_in_another_container_is_accepted_at_once(hugo: Staff) -> None:
    # Given this container's taxonomy read before a manager added "billing" elsewhere
    taxonomy.all_tags()
    Taxonomy("billing", label_fr="Facturation", label_en="Billing", department="finance").save()
    case = case_for(hugo, score=3)

    status, answer = attempt(case, hugo, outcome="no_answer", tags=["billing"])

    assert status == 201, answer
    assert attempts_of(case)[0].tags == {"billing"}


# ------------------------------------------------------------------ the reader's language


def test_a_french_reader_is_told_of_an_unknown_tag_in_french(hugo: Staff) -> None:
    case = case_for(hugo, score=3)

    status, answer = attempt(case, hugo, outcome="reached", tags=["parking"], promise="none", language="fr")

    assert status == 400
    assert answer["message"] == "étiquette inconnue : parking (voir GET /taxonomy)"
    assert attempts_of(case) == []


def test_a_french_reader_is_told_in_french_that_a_case_is_closed(hugo: Staff) -> None:
    case = case_for(hugo, score=1)
    attempt(case, hugo, outcome="declined")

    status, answer = attempt(case, hugo, outcome="no_answer", language="fr")

    assert status == 409
    assert answer["message"] == "le rappel est clos : il ne prend plus de tentatives"


def test_a_french_reader_is_told_in_french_that_a_case_is_someone_elses(hugo: Staff, lea: Staff) -> None:
    case = case_for(hugo, score=3)

    shown = call("GET", f"/cases/{case.case_id}", who=lea, headers=FR)
    logged = attempt(case, lea, outcome="no_answer", language="fr")

    assert shown[0] == logged[0] == 403
    assert shown[1]["message"].startswith("ce rappel est confié à quelqu'un d'autre")
    assert logged[1]["message"] == shown[1]["message"]
    assert attempts_of(case) == []


def test_the_token_locale_chooses_the_language_when_the_request_names_none(hugo: Staff, lea: Staff) -> None:
    case = case_for(hugo, score=3)

    status, answer = call("GET", f"/cases/{case.case_id}", who=lea)  # the test tokens say locale fr

    assert status == 403
    assert answer["message"].startswith("ce rappel est confié à quelqu'un d'autre")


def test_a_french_manager_is_told_in_french_to_reload_a_stale_reassignment(
    hugo: Staff, lea: Staff, claire: Staff
) -> None:
    case = case_for(hugo, score=3)
    body = {"to_email": lea.email, "version": case.version}
    assert call("POST", f"/cases/{case.case_id}/reassign", body, who=claire, groups=MANAGER)[0] == 200

    status, answer = call("POST", f"/cases/{case.case_id}/reassign", body, who=claire, groups=MANAGER, headers=FR)

    assert status == 409
    assert answer["message"] == "le rappel a changé depuis que vous l'avez lu : rechargez-le"
    assert stored_case(case.case_id).assignee_id == lea.staff_id


def test_a_french_reader_is_told_in_french_that_the_idempotency_key_is_missing(hugo: Staff) -> None:
    case = case_for(hugo, score=3)

    status, answer = call("POST", f"/cases/{case.case_id}/attempts", {"outcome": "no_answer"}, who=hugo, headers=FR)

    assert status == 400
    assert answer["message"].startswith("l'en-tête Idempotency-Key est requis")
    assert attempts_of(case) == []

"""The case counters, from the Cases stream read out of moto: the Stats items a dashboard reads,
the callers' `open_cases`, records handed over again applied once, a record too large for one
transaction applied in parts, and the CloudWatch metrics (per applied record, and the backlog
gauges the SLA sweeper publishes). verify_cases() is the oracle: counters == a recount."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Case, Staff
from closeloop.services import counters, domain_events
from closeloop.services.assignment import reassign_case
from closeloop.services.capture import record_response
from closeloop.services.case_metrics import publish_backlog_metrics
from closeloop.services.sla_sweeper import sweep
from closeloop.services.stats import verify_cases, verify_counters
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.case_counters_support import (
    DUE,
    RESPONDED,
    add_staff,
    apply_counters,
    cases_stream,
    deliver,
    first_exchange,
    metric_values,
    open_case,
    open_cases_of,
    stats_item,
)
from tests.integration.cases_support import add_caller, add_contact, fresh_ledger, invitation_for
from tests.integration.dispatch import make_wave
from tests.integration.imports_support import as_function
from tests.integration.responses_support import apply_flow, cancelled_transactions, pynamodb_client, responses_stream


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)
    exact_numbers()
    return stack


def test_an_opened_case_counts_in_the_nine_scopes_and_on_its_assignee(ready: Any) -> None:
    claire = add_staff()
    stream = cases_stream()

    case = open_case(assignee_id=claire.staff_id, confirmed=False)
    assert apply_counters(stream.read()) == {"batchItemFailures": []}

    w = case.wave_id
    for scope in ("all", f"wave#{w}", "segment#pharmacy", "month#2027-03/language#fr", f"wave#{w}/segment#pharmacy"):
        assert stats_item(scope) == {"opened_det": 1, "open_det": 1, "unconfirmed_det": 1}, scope
    assert open_cases_of(claire) == 1
    assert verify_cases() == []


def test_a_call_a_breach_and_a_close_move_the_counters_and_the_callers_load(ready: Any) -> None:
    claire, marc = add_staff(), add_staff("Marc Lefèvre")
    stream = cases_stream()
    on_time = open_case(assignee_id=claire.staff_id)
    late = open_case(assignee_id=claire.staff_id, segment="hospital")
    deliver(stream.read())
    assert open_cases_of(claire) == 2

    # The first is reached within a day, with two irritants; the second misses its due time
    first_exchange(on_time, RESPONDED + timedelta(hours=23, minutes=30), tags={"delivery", "price"})
    late.update(actions=[Case.breached_at.set(Case.breached_at | DUE["detractor"])], add_version_condition=False)
    deliver(stream.read())
    assert stats_item("all") == {
        "opened_det": 2,
        "open_det": 2,
        "overdue_det": 1,
        "first_det": 1,
        "first_call_det": 1,
        "within_sla_det": 1,
        "late_det": 1,
    }
    assert stats_item("segment#pharmacy", "delay#first#h") == {"det_b04": 1, "det_n": 1, "det_sum": 23.5}
    assert stats_item("month#2027-03", "irritant#price") == {"n_det": 1}

    # A manager moves the late case to Marc, who reaches the customer by reply; the first closes
    late.update(
        actions=[Case.assignee_id.set(marc.staff_id), Case.assignment.set("manual")], add_version_condition=False
    )
    first_exchange(late, DUE["detractor"] + timedelta(hours=3), kind="reply")
    on_time.update(
        actions=[
            Case.status.set("closed"),
            Case.close_reason.set("loop_closed"),
            Case.promise.set("solution_now"),
            Case.closed_at.set(RESPONDED + timedelta(days=1)),
            Case.queue_due_at.remove(),
        ],
        add_version_condition=False,
    )
    deliver(stream.read())

    assert (open_cases_of(claire), open_cases_of(marc)) == (0, 1)
    item = stats_item("all")
    assert (item["open_det"], item["overdue_det"], item["first_reply_det"], item["late_det"]) == (1, 0, 1, 1)
    assert (item["closed_det"], item["promised_solution_det"], item["within_sla_det"]) == (1, 1, 1)
    assert verify_cases() == []
    assert verify_counters() == []


def test_a_record_handed_over_again_or_after_a_conflict_is_counted_once(ready: Any) -> None:
    claire = add_staff()
    stream = cases_stream()
    for _ in range(3):
        open_case(assignee_id=claire.staff_id, category="passive")
    records = stream.read()

    with cancelled_transactions(pynamodb_client(), times=counters.ATTEMPTS) as cancelled:
        answer = apply_counters(records)
    assert len(cancelled) == counters.ATTEMPTS
    assert len(answer["batchItemFailures"]) == 3  # all handed back: nothing was written
    assert stats_item("all") == {}

    assert apply_counters(records[:1]) == {"batchItemFailures": []}  # a bisected half
    assert apply_counters(records) == {"batchItemFailures": []}
    assert apply_counters(records) == {"batchItemFailures": []}
    assert stats_item("all") == {"opened_pas": 3, "open_pas": 3}
    assert open_cases_of(claire) == 3
    assert verify_cases() == []


def test_a_case_whose_assignee_is_not_in_the_directory_counts_in_stats_only(ready: Any) -> None:
    stream = cases_stream()
    ghost = new_id()
    open_case(assignee_id=ghost)

    assert apply_counters(stream.read()) == {"batchItemFailures": []}

    assert stats_item("all") == {"opened_det": 1, "open_det": 1}
    assert Staff.count(ghost) == 0  # no half-made staff item
    assert verify_cases() == []


def test_a_change_touching_more_items_than_one_transaction_is_applied_in_parts_each_once(ready: Any) -> None:
    claire = add_staff()
    case = open_case(assignee_id=claire.staff_id)
    first_exchange(case, RESPONDED + timedelta(hours=5), tags={"a", "b", "c", "d", "e"})
    case.update(
        actions=[
            Case.second_exchange_at.set(RESPONDED + timedelta(hours=5)),
            Case.second_delay_h.set(5),
            Case.second_delay_bh.set(5),
        ],
        add_version_condition=False,
    )
    stream = cases_stream(from_start=True)
    deliver(stream.read())

    # A correction of the segment and the month of the response (every scope but four) and of the
    # tags at once: 100 items move (10 cases, 40 delays, 50 irritants)
    fixes = [Case.segment.set("hospital"), Case.month.set("2027-04"), Case.tags.set({"f", "g", "h", "i", "j"})]
    case.update(actions=fixes, add_version_condition=False)
    records = stream.read()
    assert len(records) == 1
    record = DynamoDBRecord(records[0])
    event_id = counters.event_id_of(record)
    parts = counters.counted_parts(event_id, counters.record_counts(record))
    assert [part.event_id for part in parts] == [f"{event_id}#1", f"{event_id}#2"]
    assert all(len(part.counts) < counters.MAX_ACTIONS for part in parts)

    # The first part lands, then the function stops; the stream hands the record over twice
    assert counters.apply_records(parts[:1]) == set()
    assert deliver(records) == 1
    assert deliver(records) == 1

    assert stats_item("segment#hospital", "irritant#h") == {"n_det": 1}
    assert stats_item("segment#pharmacy", "irritant#c") == {"n_det": 0}
    assert stats_item("all", "irritant#c") == {"n_det": 0}
    assert stats_item("month#2027-04/segment#hospital", "delay#second#bh") == {"det_b03": 1, "det_n": 1, "det_sum": 5}
    assert verify_cases() == []


def test_each_applied_record_emits_its_metrics_once_by_category(ready: Any, capsys: pytest.CaptureFixture[str]) -> None:
    claire = add_staff()
    stream = cases_stream()
    detractor = open_case(assignee_id=claire.staff_id)
    open_case(assignee_id=claire.staff_id, category="promoter")
    first_exchange(detractor, RESPONDED + timedelta(hours=2))
    records = stream.read()
    capsys.readouterr()

    assert apply_counters(records) == {"batchItemFailures": []}
    assert apply_counters(records) == {"batchItemFailures": []}  # handed over again: no metric twice

    found = metric_values(capsys.readouterr().out)
    assert found[("cases_opened", "detractor")] == [1.0]
    assert found[("cases_opened", "promoter")] == [1.0]
    assert found[("first_exchange_delay_bh", "detractor")] == [0.75]  # 2 h, as the helper counts business hours
    assert ("first_exchange_delay_bh", "promoter") not in found


def test_the_backlog_gauges_say_how_many_cases_are_open_and_overdue_by_category(
    ready: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    publish_backlog_metrics()  # a quiet system: zeros, so that the series has no gaps
    quiet = metric_values(capsys.readouterr().out)
    assert quiet[("cases_overdue", "detractor")] == [0.0]
    assert quiet[("cases_open", "promoter")] == [0.0]

    claire = add_staff()
    stream = cases_stream()
    overdue = open_case(assignee_id=claire.staff_id)
    open_case(assignee_id=claire.staff_id)
    open_case(assignee_id=claire.staff_id, category="passive")
    overdue.update(actions=[Case.breached_at.set(DUE["detractor"])], add_version_condition=False)
    deliver(stream.read())
    capsys.readouterr()

    publish_backlog_metrics()

    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(documents) == 3  # one per category
    detractors = next(document for document in documents if document["category"] == "detractor")
    assert sorted(detractors["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["category", "service"]
    assert detractors["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "closeloop"  # what the alarm watches
    assert (detractors["cases_open"], detractors["cases_overdue"], detractors["service"]) == ([2], [1], "closeloop")
    passives = next(document for document in documents if document["category"] == "passive")
    assert (passives["cases_open"], passives["cases_overdue"]) == ([1], [0])


def test_the_recount_finds_a_case_counter_or_a_callers_load_moved_behind_the_streams_back(ready: Any) -> None:
    claire = add_staff()
    stream = cases_stream()
    open_case(assignee_id=claire.staff_id)
    deliver(stream.read())
    assert verify_cases() == []

    claire.update(actions=[Staff.open_cases.add(2)], add_version_condition=False)  # a hand edit
    counters_table = ready.globals_environment["STATS_TABLE"]
    boto3.client("dynamodb", region_name="eu-west-1").update_item(
        TableName=counters_table,
        Key={"scope": {"S": "language#fr"}, "metric": {"S": "delay#first#bh"}},
        UpdateExpression="ADD det_b00 :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    found = {(d.target.table, d.target.key, d.target.metric, d.attribute, d.expected, d.found) for d in verify_cases()}
    assert found == {
        ("staff", claire.staff_id, "", "open_cases", 1, 3),
        ("stats", "language#fr", "delay#first#bh", "det_b00", 0, 1),
    }


def test_with_the_real_writers_an_opened_case_that_misses_its_due_time_sets_off_the_overdue_gauge(
    ready: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a detractor's answer that response_flow turns into a case for the account owner
    as_function(ready, monkeypatch, "ResponseFlowFunction")
    monkeypatch.setattr(domain_events.time, "sleep", lambda _seconds: None)
    clock.set_state(frozen_at=RESPONDED)
    fresh_ledger()
    owner, other = add_caller("paul.girard@closeloop.example"), add_caller("lea.roux@closeloop.example")
    responses, cases = responses_stream(), cases_stream()
    invitation = invitation_for(make_wave().wave_id, add_contact(owner="paul.girard@closeloop.example"))
    record_response(invitation.invitation_id, 2, None)
    assert apply_flow(responses.read()) == {"batchItemFailures": []}
    deliver(cases.read())
    assert (open_cases_of(owner), stats_item("all")["open_det"]) == (1, 1)

    # When nobody calls before the due time and the sweeper runs after it
    clock.set_state(frozen_at=RESPONDED + timedelta(days=3))
    sweep()
    deliver(cases.read())
    capsys.readouterr()
    sweep()  # the next run publishes the gauge the counters now hold

    # Then the detractor case counts overdue and late, and the alarm's series says 1
    assert {name: stats_item("all")[name] for name in ("open_det", "overdue_det", "late_det")} == {
        "open_det": 1,
        "overdue_det": 1,
        "late_det": 1,
    }
    assert metric_values(capsys.readouterr().out)[("cases_overdue", "detractor")] == [1.0]

    # And a manager's reassignment moves the load from the owner to the other caller
    case = Case.get(invitation.invitation_id, consistent_read=True)
    reassign_case(case.case_id, to_staff_id=other.staff_id, assignment="manual", expected_version=case.version)
    deliver(cases.read())
    assert (open_cases_of(owner), open_cases_of(other)) == (0, 1)
    assert verify_cases() == []

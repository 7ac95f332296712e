"""The domain clock of the local runtime: moving forward fires what falls due, in order, each
occurrence seeing its own time, with queues and streams drained in between."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.runtime.events.fakes import ACCOUNT, REGION, FakeRuntime, Function, Resource

MONDAY = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, far from any change of clocks


@pytest.fixture(autouse=True)
def _moto() -> Iterator[None]:
    with mock_aws():
        yield


def scheduler_v2(expression: str, tz: str = "Europe/Paris", **props: Any) -> dict[str, Any]:
    return {
        "Type": "ScheduleV2",
        "Properties": {"ScheduleExpression": expression, "ScheduleExpressionTimezone": tz, **props},
    }


def daily_reminders(**props: Any) -> FakeRuntime:
    functions = {"RemindFunction": Function({"Daily": scheduler_v2("cron(0 9 * * ? *)", **props)})}
    return FakeRuntime(functions, start_at=MONDAY)


def test_three_days_forward_fires_a_daily_schedule_three_times_each_at_its_own_time() -> None:
    runtime = daily_reminders()

    fired = runtime.clock.advance("P3D")

    nine_paris = [datetime(2026, 1, d, 8, 0, tzinfo=UTC) for d in (5, 6, 7)]
    assert [f["scheduled_time"] for f in fired] == [
        "2026-01-05T08:00:00Z",
        "2026-01-06T08:00:00Z",
        "2026-01-07T08:00:00Z",
    ]
    assert {f["function"] for f in fired} == {"RemindFunction"}
    assert [i.now for i in runtime.invocations] == nine_paris
    assert runtime.event_sources.drained_at[:3] == nine_paris


def test_after_moving_the_clock_runs_on_from_the_target() -> None:
    runtime = daily_reminders()

    runtime.clock.advance("PT2H30M")

    state = runtime.clock.state()
    assert state["frozen_at"] is None
    assert abs(runtime.clock.now() - (MONDAY + timedelta(hours=2, minutes=30))) < timedelta(seconds=2)
    status, body = runtime.clock.handle_get()
    assert status == 200
    assert body["frozen"] is False
    assert body["now"].startswith("2026-01-05T02:30")


def test_moving_again_does_not_fire_an_occurrence_twice() -> None:
    runtime = daily_reminders()

    first = runtime.clock.advance("PT9H")
    second = runtime.clock.advance("PT1H")
    runtime.clock.tick()

    assert [f["scheduled_time"] for f in first] == ["2026-01-05T08:00:00Z"]
    assert second == []
    assert len(runtime.invocations) == 1


def test_scheduler_input_gets_its_context_attributes() -> None:
    template_input = json.dumps(
        {
            "at": "<aws.scheduler.scheduled-time>",
            "arn": "<aws.scheduler.schedule-arn>",
            "execution": "<aws.scheduler.execution-id>",
            "attempt": "<aws.scheduler.attempt-number>",
            "kind": "reminder",
        }
    )
    runtime = daily_reminders(Input=template_input, GroupName="closeloop")

    runtime.clock.advance("PT9H")

    event = runtime.invocations[0].event
    assert event["at"] == "2026-01-05T08:00:00Z"
    assert event["arn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/closeloop/RemindFunctionDaily"
    assert len(event["execution"]) == 16
    assert event["attempt"] == "1"
    assert event["kind"] == "reminder"


def test_scheduler_without_input_sends_its_default_notification() -> None:
    runtime = daily_reminders(Name="morning")

    runtime.clock.advance("PT9H")

    event = runtime.invocations[0].event
    assert event["source"] == "aws.scheduler"
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-01-05T08:00:00Z"
    assert event["resources"] == [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/morning"]
    assert event["detail"] == "{}"


def test_an_eventbridge_rule_sends_the_scheduled_event_envelope_or_its_input() -> None:
    functions = {
        "DigestFunction": Function({"Nightly": {"Type": "Schedule", "Properties": {"Schedule": "cron(0 2 * * ? *)"}}}),
        "PingFunction": Function(
            {"Hourly": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 hour)", "Input": '{"ping": 1}'}}}
        ),
    }
    runtime = FakeRuntime(functions, start_at=MONDAY)

    runtime.clock.advance("PT3H")

    digest = [i for i in runtime.invocations if i.function_id == "DigestFunction"]
    pings = [i for i in runtime.invocations if i.function_id == "PingFunction"]
    assert [i.event for i in pings] == [{"ping": 1}] * 3
    assert len(digest) == 1
    envelope = digest[0].event
    assert envelope["source"] == "aws.events"
    assert envelope["detail-type"] == "Scheduled Event"
    assert envelope["time"] == "2026-01-05T02:00:00Z"
    assert envelope["detail"] == {}
    assert envelope["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/DigestFunctionNightly"]
    assert envelope["account"] == ACCOUNT
    assert envelope["region"] == REGION


def test_occurrences_of_all_sources_fire_in_time_order() -> None:
    functions = {
        "HourlyFunction": Function({"Every": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 hour)"}}}),
        "MorningFunction": Function({"At": scheduler_v2("cron(30 1 * * ? *)", tz="UTC")}),
    }
    runtime = FakeRuntime(functions, start_at=MONDAY)

    fired = runtime.clock.advance("PT3H")

    assert [(f["function"], f["scheduled_time"]) for f in fired] == [
        ("HourlyFunction", "2026-01-05T01:00:00Z"),
        ("MorningFunction", "2026-01-05T01:30:00Z"),
        ("HourlyFunction", "2026-01-05T02:00:00Z"),
        ("HourlyFunction", "2026-01-05T03:00:00Z"),
    ]
    assert [i.now for i in runtime.invocations] == [datetime.fromisoformat(f["scheduled_time"]) for f in fired]


def test_a_disabled_schedule_or_one_outside_its_dates_does_not_fire() -> None:
    functions = {
        "OffFunction": Function({"Daily": scheduler_v2("cron(0 9 * * ? *)", State="DISABLED")}),
        "OffRuleFunction": Function(
            {"Daily": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 hour)", "Enabled": False}}}
        ),
        "LaterFunction": Function(
            {
                "Daily": scheduler_v2(
                    "cron(0 9 * * ? *)", StartDate="2026-01-07T00:00:00Z", EndDate="2026-01-08T12:00:00Z"
                )
            }
        ),
    }
    runtime = FakeRuntime(functions, start_at=MONDAY)

    fired = runtime.clock.advance("P7D")

    assert [(f["function"], f["scheduled_time"]) for f in fired] == [
        ("LaterFunction", "2026-01-07T08:00:00Z"),
        ("LaterFunction", "2026-01-08T08:00:00Z"),
    ]


def test_a_scheduler_resource_of_the_template_fires_its_lambda_target() -> None:
    resources = {
        "WeeklyDigest": Resource(
            "WeeklyDigest",
            "AWS::Scheduler::Schedule",
            {
                "ScheduleExpression": "cron(0 8 ? * MON *)",
                "ScheduleExpressionTimezone": "Europe/Paris",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": {
                    "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:DigestFunction",
                    "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                    "Input": '{"week": "<aws.scheduler.scheduled-time>"}',
                },
            },
        )
    }
    runtime = FakeRuntime({"DigestFunction": Function({})}, resources, start_at=MONDAY)

    fired = runtime.clock.advance("P8D")

    assert [f["source"] for f in fired] == ["WeeklyDigest", "WeeklyDigest"]
    assert [i.event for i in runtime.invocations] == [
        {"week": "2026-01-05T07:00:00Z"},
        {"week": "2026-01-12T07:00:00Z"},
    ]


def test_an_invalid_schedule_in_the_template_stops_with_its_name() -> None:
    runtime = FakeRuntime({"BadFunction": Function({"Daily": scheduler_v2("cron(0 9 * * * *)")})}, start_at=MONDAY)

    with pytest.raises(ValueError, match=r"BadFunction\.Daily.*exactly one of"):
        runtime.clock.advance("P1D")


# ------------------------------------------------------------------ schedules created at run time


def _one_time(name: str, at: str, *, input_text: str | None = None, tz: str = "Europe/Paris") -> None:
    target: dict[str, Any] = {
        "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:FollowUpFunction",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
    }
    if input_text is not None:
        target["Input"] = input_text
    boto3.client("scheduler", region_name=REGION).create_schedule(
        Name=name,
        ScheduleExpression=f"at({at})",
        ScheduleExpressionTimezone=tz,
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target=target,
    )


def test_a_one_time_schedule_created_through_the_api_fires_once_and_is_deleted() -> None:
    runtime = FakeRuntime({"FollowUpFunction": Function({})}, start_at=MONDAY)
    runtime.clock.tick()
    _one_time("case-42", "2026-01-06T10:00:00", input_text='{"case": "42", "due": "<aws.scheduler.scheduled-time>"}')

    fired = runtime.clock.advance("P2D")
    runtime.clock.advance("P1D")

    assert [(f["function"], f["scheduled_time"]) for f in fired] == [("FollowUpFunction", "2026-01-06T09:00:00Z")]
    assert runtime.invocations[0].event == {"case": "42", "due": "2026-01-06T09:00:00Z"}
    assert runtime.invocations[0].now == datetime(2026, 1, 6, 9, tzinfo=UTC)
    assert len(runtime.invocations) == 1
    assert boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"] == []


def test_a_schedule_created_by_a_handler_during_a_jump_fires_within_that_jump() -> None:
    def handler(function_id: str, event: dict[str, Any], now: datetime) -> None:
        if function_id == "PlanFunction":
            _one_time(f"follow-{now:%d}", f"{now + timedelta(hours=3):%Y-%m-%dT%H:%M:%S}", tz="UTC")

    functions = {
        "PlanFunction": Function({"Daily": scheduler_v2("cron(0 9 * * ? *)", tz="UTC")}),
        "FollowUpFunction": Function({}),
    }
    runtime = FakeRuntime(functions, handler=handler, start_at=MONDAY)

    fired = runtime.clock.advance("P2D")

    assert [(f["function"], f["scheduled_time"]) for f in fired] == [
        ("PlanFunction", "2026-01-05T09:00:00Z"),
        ("FollowUpFunction", "2026-01-05T12:00:00Z"),
        ("PlanFunction", "2026-01-06T09:00:00Z"),
        ("FollowUpFunction", "2026-01-06T12:00:00Z"),
    ]
    follow_up = runtime.invocations[1].event
    assert follow_up["source"] == "aws.scheduler"
    assert follow_up["resources"] == [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/follow-05"]


def test_a_recurring_schedule_created_during_a_jump_counts_from_its_creation() -> None:
    def handler(function_id: str, event: dict[str, Any], now: datetime) -> None:
        if function_id == "PlanFunction":
            boto3.client("scheduler", region_name=REGION).create_schedule(
                Name="pulse",
                ScheduleExpression="rate(6 hours)",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={
                    "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:PulseFunction",
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
                },
            )

    functions = {
        "PlanFunction": Function({"Once": scheduler_v2("at(2026-01-05T09:00:00)", tz="UTC")}),
        "PulseFunction": Function({}),
    }
    runtime = FakeRuntime(functions, handler=handler, start_at=MONDAY)

    fired = runtime.clock.advance("P1D")

    assert [(f["function"], f["scheduled_time"]) for f in fired] == [
        ("PlanFunction", "2026-01-05T09:00:00Z"),
        ("PulseFunction", "2026-01-05T15:00:00Z"),
        ("PulseFunction", "2026-01-05T21:00:00Z"),
    ]


def test_a_schedule_created_already_due_fires_at_the_next_tick() -> None:
    runtime = FakeRuntime({"FollowUpFunction": Function({})}, start_at=MONDAY)
    runtime.clock.tick()
    _one_time("overdue", "2026-01-04T10:00:00", tz="UTC")

    fired = runtime.clock.tick()

    assert [(f["function"], f["scheduled_time"]) for f in fired] == [("FollowUpFunction", "2026-01-04T10:00:00Z")]


# ------------------------------------------------------------------ refusals and HTTP


def test_the_clock_refuses_to_move_backwards() -> None:
    runtime = daily_reminders()

    with pytest.raises(ValueError, match="only moves forward"):
        runtime.clock.advance("-P1D")
    status, body = runtime.clock.handle_post({"to": "2026-01-04T00:00:00Z"})

    assert status == 400
    assert "only moves forward" in body["message"]
    assert runtime.invocations == []


@pytest.mark.parametrize(
    "body",
    [{}, {"advance": "three days"}, {"advance": "P1D", "to": "2026-02-01T00:00:00Z"}, {"to": "soon"}, "{not json", [1]],
)
def test_bad_requests_get_a_400_with_a_reason(body: Any) -> None:
    status, answer = daily_reminders().clock.handle_post(body)

    assert status == 400
    assert answer["message"]


def test_post_moves_the_clock_and_lists_what_fired() -> None:
    runtime = daily_reminders()

    status, body = runtime.clock.handle_post(b'{"to": "2026-01-06T12:00:00+01:00"}')

    assert status == 200
    assert body["now"].startswith("2026-01-06T11:00")
    assert [f["scheduled_time"] for f in body["fired"]] == ["2026-01-05T08:00:00Z", "2026-01-06T08:00:00Z"]


def test_the_ticker_and_a_jump_never_fire_the_same_occurrence_twice() -> None:
    functions = {
        "PulseFunction": Function({"Every": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}})
    }
    runtime = FakeRuntime(functions, start_at=MONDAY)
    runtime.clock.tick()
    stop = threading.Event()

    def tick_forever() -> None:
        while not stop.is_set():
            runtime.clock.tick()

    tickers = [threading.Thread(target=tick_forever) for _ in range(3)]
    for ticker in tickers:
        ticker.start()
    try:
        runtime.clock.advance("PT2H")
    finally:
        stop.set()
        for ticker in tickers:
            ticker.join()

    times = [i.now for i in runtime.invocations]
    assert times == sorted(set(times))
    assert times[:120] == [MONDAY + timedelta(minutes=m) for m in range(1, 121)]


def test_the_ticker_fires_in_real_time_with_the_occurrence_as_now() -> None:
    functions = {"SoonFunction": Function({"Soon": scheduler_v2("rate(1 minute)", tz="UTC")})}
    runtime = FakeRuntime(functions, start_at=MONDAY)
    runtime.clock.tick()
    runtime.clock.advance("PT59.5S")

    runtime.clock.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while not runtime.invocations and datetime.now(UTC) < deadline:
            threading.Event().wait(0.1)
    finally:
        runtime.clock.stop()

    assert [i.now for i in runtime.invocations] == [MONDAY + timedelta(minutes=1)]
    assert runtime.clock.state()["frozen_at"] is None


# ------------------------------------------------------------------ TTL


def _table(name: str, ttl_attribute: str) -> Resource:
    props = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": ttl_attribute, "Enabled": True},
    }
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=f"local-{name}",
        **{k: v for k, v in props.items() if k not in {"TableName", "TimeToLiveSpecification"}},
    )
    return Resource(name, "AWS::DynamoDB::Table", props)


def _ids(table: str) -> set[str]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=f"local-{table}")["Items"]
    return {item["id"]["S"] for item in items}


def test_items_expire_on_the_domain_clock_except_idempotency_records_on_real_time() -> None:
    resources = {
        "StatsTable": _table("StatsTable", "expires_at"),
        "IdempotencyTable": _table("IdempotencyTable", "expiration"),
    }
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    in_two_days = int((MONDAY + timedelta(days=2)).timestamp())
    in_four_days = int((MONDAY + timedelta(days=4)).timestamp())
    real_soon = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    for item_id, expires in [("two-days", in_two_days), ("four-days", in_four_days)]:
        dynamodb.put_item(TableName="local-StatsTable", Item={"id": {"S": item_id}, "expires_at": {"N": str(expires)}})
    dynamodb.put_item(TableName="local-StatsTable", Item={"id": {"S": "forever"}})
    dynamodb.put_item(
        TableName="local-IdempotencyTable", Item={"id": {"S": "key"}, "expiration": {"N": str(real_soon)}}
    )
    runtime = FakeRuntime({}, resources, start_at=MONDAY)

    runtime.clock.advance("P3D")

    assert _ids("StatsTable") == {"four-days", "forever"}
    assert _ids("IdempotencyTable") == {"key"}

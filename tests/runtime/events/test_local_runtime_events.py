"""The local runtime's clock, queues and streams, end to end on a small template of their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from closeloop_local.runtime import Runtime

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TEMPLATE = Path(__file__).with_name("template.yaml")
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("state")
    with Runtime(TEMPLATE, port=0, seed=False, state_dir=state, echo_logs=False) as started:
        yield started


def seen(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    """What the functions recorded, of one kind."""
    table = runtime.physical_name("SeenTable")
    pages = runtime.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    items = [item for page in pages for item in page["Items"]]
    return [
        {key: value["S"] for key, value in item.items() if "S" in value} for item in items if item["kind"]["S"] == kind
    ]


def to_next_paris_midnight(runtime: Runtime) -> datetime:
    """Move the clock to the next midnight in Paris, so that three days hold three 9:00s whatever the date."""
    tomorrow = runtime.clock.now().astimezone(PARIS).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PARIS)
    runtime.clock.advance_to(midnight)
    return midnight


def queue_url(runtime: Runtime, logical_id: str) -> str:
    return str(runtime.client("sqs").get_queue_url(QueueName=runtime.physical_name(logical_id))["QueueUrl"])


def received(runtime: Runtime, logical_id: str) -> list[str]:
    answer = runtime.client("sqs").receive_message(QueueUrl=queue_url(runtime, logical_id), MaxNumberOfMessages=10)
    return [m["Body"] for m in answer.get("Messages", [])]


def test_three_days_forward_fire_a_daily_paris_schedule_three_times_each_at_its_own_time(runtime: Runtime) -> None:
    midnight = to_next_paris_midnight(runtime)
    before = {item["scheduled"] for item in seen(runtime, "daily")}

    fired = runtime.clock.advance("P3D")

    nine = [(midnight + timedelta(days=d)).replace(hour=9) for d in range(3)]
    expected = [t.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ") for t in nine]
    assert [f["scheduled_time"] for f in fired if f["source"] == "DailyFunction.Daily"] == expected
    new = sorted((item for item in seen(runtime, "daily") if item["scheduled"] not in before), key=lambda i: i["now"])
    assert [item["scheduled"] for item in new] == expected
    assert [datetime.fromisoformat(item["now"]) for item in new] == nine
    assert abs(runtime.clock.now() - (midnight + timedelta(days=3))) < timedelta(seconds=5)


def test_a_scheduler_schedule_resource_fires_its_target_with_its_input(runtime: Runtime) -> None:
    before = {item["scheduled"] for item in seen(runtime, "six-hourly")}

    fired = runtime.clock.advance("P1D")

    times = [f["scheduled_time"] for f in fired if f["source"] == "HourlySchedule"]
    assert len(times) == 4, fired
    new = sorted(item["scheduled"] for item in seen(runtime, "six-hourly") if item["scheduled"] not in before)
    assert new == times


def test_each_queued_message_of_a_jump_is_consumed_at_its_own_occurrences_time(runtime: Runtime) -> None:
    midnight = to_next_paris_midnight(runtime)
    before = {item["scheduled"] for item in seen(runtime, "work")}

    runtime.clock.advance("P3D")

    work = sorted((item for item in seen(runtime, "work") if item["scheduled"] not in before), key=lambda i: i["now"])
    afternoons = [(midnight + timedelta(days=d)).replace(hour=14, minute=30) for d in range(3)]
    assert [datetime.fromisoformat(item["now"]) for item in work] == afternoons
    assert [datetime.fromisoformat(item["scheduled"]) for item in work] == afternoons


def test_a_message_reaches_its_function(runtime: Runtime) -> None:
    runtime.client("sqs").send_message(QueueUrl=queue_url(runtime, "JobsQueue"), MessageBody="hello")

    assert runtime.event_sources.drain(timeout=20)

    # at least once, as SQS delivers: the queue's visibility timeout is 1 s (for the retry tests), so
    # a cold worker on a busy machine may see the message a second time
    deliveries = [job["attempt"] for job in seen(runtime, "job") if job["body"] == "hello"]
    assert "1" in deliveries


def test_a_message_that_always_fails_lands_in_the_dlq_after_its_retries(runtime: Runtime) -> None:
    runtime.client("sqs").send_message(QueueUrl=queue_url(runtime, "JobsQueue"), MessageBody="poison-1")

    assert runtime.event_sources.drain(timeout=20)

    attempts = [job["attempt"] for job in seen(runtime, "job") if job["body"] == "poison-1"]
    assert sorted(attempts) == ["1", "2"]
    assert received(runtime, "JobsDeadLetterQueue") == ["poison-1"]


def test_a_partial_batch_failure_retries_only_the_failed_message(runtime: Runtime) -> None:
    runtime.client("sqs").send_message_batch(
        QueueUrl=queue_url(runtime, "BatchQueue"),
        Entries=[{"Id": "ok", "MessageBody": "fine-2"}, {"Id": "flaky", "MessageBody": "flaky-2"}],
    )

    assert runtime.event_sources.drain(timeout=20)

    jobs = [job for job in seen(runtime, "job") if job["body"] in {"fine-2", "flaky-2"}]
    assert sorted((job["body"], job["attempt"]) for job in jobs) == [
        ("fine-2", "1"),
        ("flaky-2", "1"),
        ("flaky-2", "2"),
    ]
    assert received(runtime, "BatchQueue") == []


def test_a_write_to_a_streamed_table_reaches_its_function_with_the_new_image(runtime: Runtime) -> None:
    runtime.client("dynamodb").put_item(
        TableName=runtime.physical_name("CasesTable"), Item={"case_id": {"S": "case-1"}, "status": {"S": "open"}}
    )

    assert runtime.event_sources.drain(timeout=20)

    changes = [json.loads(c["image"]) for c in seen(runtime, "case") if c["change"] == "INSERT"]
    assert {"case_id": {"S": "case-1"}, "status": {"S": "open"}} in changes


def test_a_stream_record_that_keeps_failing_goes_to_the_on_failure_queue(runtime: Runtime) -> None:
    runtime.client("dynamodb").put_item(
        TableName=runtime.physical_name("CasesTable"), Item={"case_id": {"S": "case-9"}, "poison": {"BOOL": True}}
    )

    assert runtime.event_sources.drain(timeout=20)

    tries = [c for c in seen(runtime, "case") if json.loads(c["image"]).get("case_id") == {"S": "case-9"}]
    assert len(tries) == 2  # the first invocation and MaximumRetryAttempts: 1
    (failure,) = [json.loads(body) for body in received(runtime, "StreamFailuresQueue")]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert failure["DDBStreamBatchInfo"]["streamArn"].startswith(
        f"arn:aws:dynamodb:{runtime.region}:123456789012:table/{runtime.physical_name('CasesTable')}/stream/"
    )

"""Queues and streams polled into their functions, against moto in process and a fake runtime."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from closeloop_local.event_sources import EventSources, reported_failures, sqs_record, stream_record
from tests.runtime.events.fakes import REGION, FakeRuntime, Function

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _moto() -> Iterator[None]:
    with mock_aws():
        yield


def queue(name: str, **attributes: Any) -> tuple[str, str]:
    """(url, arn) of a new queue."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def streamed_table(name: str) -> str:
    """The stream ARN of a new table keyed by `id`."""
    table = boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return str(table["TableDescription"]["LatestStreamArn"])


def put(table: str, item_id: str, **extra: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=table, Item={"id": {"S": item_id}, **extra})


def messages(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]).get(
        "Messages", []
    )


class Recorder:
    """A handler that records every batch and fails as told."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail_bodies: set[str] = set()
        self.fail_once: set[str] = set()
        self.fail_ids: set[str] = set()

    def __call__(self, function_id: str, event: dict[str, Any], now: Any) -> Any:
        records = event["Records"]
        self.batches.append(records)
        if any(r.get("body") in self.fail_bodies or _image_id(r) in self.fail_ids for r in records):
            raise RuntimeError("poison")
        failures = []
        for r in records:
            key = r.get("body") or _image_id(r)
            if key in self.fail_once:
                self.fail_once.discard(key)
                failures.append({"itemIdentifier": r.get("messageId") or r["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failures}

    def seen(self) -> list[str]:
        return [r.get("body") or _image_id(r) for batch in self.batches for r in batch]


def _image_id(record: dict[str, Any]) -> str | None:
    return record.get("dynamodb", {}).get("Keys", {}).get("id", {}).get("S")


def running(events: dict[str, dict[str, Any]], recorder: Recorder) -> tuple[FakeRuntime, EventSources]:
    runtime = FakeRuntime({"ConsumerFunction": Function(events)}, handler=recorder)
    sources = EventSources(runtime)  # type: ignore[arg-type]
    runtime.event_sources = sources
    sources.start()
    return runtime, sources


# ------------------------------------------------------------------ the shapes Lambda gives


def test_an_sqs_record_has_lambdas_shape() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "Body": "hello",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "AID", "MessageGroupId": "g"},
        "MD5OfMessageAttributes": "md5a",
        "MessageAttributes": {
            "kind": {"StringValue": "invite", "DataType": "String"},
            "blob": {"BinaryValue": b"\x01\x02", "DataType": "Binary"},
        },
    }

    record = sqs_record(message, "arn:aws:sqs:eu-west-3:123456789012:jobs")

    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh",
        "body": "hello",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "MessageGroupId": "g", "SenderId": "AID"},
        "messageAttributes": {
            "kind": {"stringValue": "invite", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfMessageAttributes": "md5a",
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:jobs",
        "awsRegion": "eu-west-3",
    }


def test_a_stream_record_has_lambdas_shape() -> None:
    raw = {
        "eventID": "e-1",
        "eventName": "MODIFY",
        "eventVersion": "1.0",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600,
            "Keys": {"id": {"S": "a"}},
            "NewImage": {"id": {"S": "a"}, "blob": {"B": b"\x00"}, "n": {"N": "2"}},
            "OldImage": {"id": {"S": "a"}},
            "SequenceNumber": "100",
            "SizeBytes": 12,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    arn = "arn:aws:dynamodb:eu-west-3:123456789012:table/t/stream/2026-01-01T00:00:00.000"

    record = stream_record(raw, arn)

    assert record == {
        "eventID": "e-1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-3",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600,
            "Keys": {"id": {"S": "a"}},
            "NewImage": {"id": {"S": "a"}, "blob": {"B": "AA=="}, "n": {"N": "2"}},
            "OldImage": {"id": {"S": "a"}},
            "SequenceNumber": "100",
            "SizeBytes": 12,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": arn,
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, []),
        ({}, []),
        ({"batchItemFailures": []}, []),
        ({"batchItemFailures": None}, []),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["b"]),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "z"}]}, None),
        ({"batchItemFailures": [{}]}, None),
        ({"batchItemFailures": "b"}, None),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(payload: Any, expected: list[str] | None) -> None:
    assert reported_failures(payload, ["a", "b"]) == expected


# ------------------------------------------------------------------ SQS


def test_a_message_reaches_its_function_and_is_deleted() -> None:
    url, arn = queue("jobs")
    recorder = Recorder()
    _, sources = running({"Jobs": {"Type": "SQS", "Properties": {"Queue": arn}}}, recorder)
    try:
        boto3.client("sqs", region_name=REGION).send_message(
            QueueUrl=url, MessageBody="hello", MessageAttributes={"kind": {"DataType": "String", "StringValue": "x"}}
        )
        assert sources.drain(timeout=10)
    finally:
        sources.stop()

    (record,) = recorder.batches[0]
    assert record["body"] == "hello"
    assert record["eventSourceARN"] == arn
    assert record["messageAttributes"]["kind"]["stringValue"] == "x"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert messages(url) == []


def test_a_message_that_always_fails_lands_in_the_dlq_after_its_retries() -> None:
    dlq_url, dlq_arn = queue("jobs-dlq")
    url, arn = queue(
        "jobs", VisibilityTimeout=1, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    )
    recorder = Recorder()
    recorder.fail_bodies.add("poison")
    _, sources = running({"Jobs": {"Type": "SQS", "Properties": {"Queue": arn}}}, recorder)
    try:
        boto3.client("sqs", region_name=REGION).send_message(QueueUrl=url, MessageBody="poison")
        assert sources.drain(timeout=15)
    finally:
        sources.stop()

    assert recorder.seen() == ["poison", "poison"]
    assert [m["Body"] for m in messages(dlq_url)] == ["poison"]


def test_a_partial_batch_failure_retries_only_the_failed_message() -> None:
    url, arn = queue("jobs", VisibilityTimeout=2)  # longer than the batching window, as AWS advises
    recorder = Recorder()
    recorder.fail_once.add("second")
    props = {
        "Queue": arn,
        "MaximumBatchingWindowInSeconds": 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    _, sources = running({"Jobs": {"Type": "SQS", "Properties": props}}, recorder)
    try:
        boto3.client("sqs", region_name=REGION).send_message_batch(
            QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "first"}, {"Id": "2", "MessageBody": "second"}]
        )
        assert sources.drain(timeout=15)
    finally:
        sources.stop()

    assert [[r["body"] for r in batch] for batch in recorder.batches] == [["first", "second"], ["second"]]
    assert recorder.batches[1][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_message_matching_no_filter_is_deleted_without_an_invocation() -> None:
    url, arn = queue("jobs")
    recorder = Recorder()
    props = {"Queue": arn, "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["invite"]}})}]}}
    _, sources = running({"Jobs": {"Type": "SQS", "Properties": props}}, recorder)
    try:
        sqs = boto3.client("sqs", region_name=REGION)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "reminder"}))
        sqs.send_message(QueueUrl=url, MessageBody="plain text")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "invite"}))
        assert sources.drain(timeout=10)
    finally:
        sources.stop()

    assert recorder.seen() == [json.dumps({"kind": "invite"})]
    assert messages(url) == []


def test_drain_does_not_wait_for_a_retry_beyond_its_timeout() -> None:
    url, arn = queue("slow", VisibilityTimeout=600)
    recorder = Recorder()
    recorder.fail_bodies.add("poison")
    _, sources = running({"Jobs": {"Type": "SQS", "Properties": {"Queue": arn}}}, recorder)
    try:
        boto3.client("sqs", region_name=REGION).send_message(QueueUrl=url, MessageBody="poison")
        began = time.monotonic()
        assert sources.drain(timeout=10)
        assert time.monotonic() - began < 8
    finally:
        sources.stop()

    assert recorder.seen() == ["poison"]


def test_drain_waits_for_retries_due_within_its_timeout_and_no_longer() -> None:
    url, arn = queue("endless", VisibilityTimeout=1)
    recorder = Recorder()
    recorder.fail_bodies.add("poison")
    _, sources = running({"Jobs": {"Type": "SQS", "Properties": {"Queue": arn}}}, recorder)
    try:
        boto3.client("sqs", region_name=REGION).send_message(QueueUrl=url, MessageBody="poison")
        began = time.monotonic()
        sources.drain(timeout=3)
        waited = time.monotonic() - began
    finally:
        sources.stop()

    assert len(recorder.batches) >= 3
    assert waited < 4


# ------------------------------------------------------------------ DynamoDB streams


def stream_events(stream_arn: str, **props: Any) -> dict[str, dict[str, Any]]:
    return {
        "Changes": {"Type": "DynamoDB", "Properties": {"Stream": stream_arn, "StartingPosition": "LATEST", **props}}
    }


def test_writes_reach_the_stream_consumer_in_order_with_their_images() -> None:
    stream_arn = streamed_table("cases")
    recorder = Recorder()
    _, sources = running(stream_events(stream_arn), recorder)
    try:
        put("cases", "a", note={"B": b"\x01"})
        put("cases", "b")
        put("cases", "a", note={"S": "changed"})
        assert sources.drain(timeout=10)
    finally:
        sources.stop()

    records = [r for batch in recorder.batches for r in batch]
    assert [(r["eventName"], _image_id(r)) for r in records] == [("INSERT", "a"), ("INSERT", "b"), ("MODIFY", "a")]
    assert records[0]["dynamodb"]["NewImage"]["note"] == {"B": base64.b64encode(b"\x01").decode()}
    assert records[2]["dynamodb"]["OldImage"]["note"] == records[0]["dynamodb"]["NewImage"]["note"]
    assert records[0]["eventSourceARN"] == stream_arn
    assert records[0]["eventVersion"] == "1.1"
    assert records[0]["awsRegion"] == REGION


def test_a_failing_record_goes_to_the_on_failure_destination_after_its_retries() -> None:
    stream_arn = streamed_table("cases")
    failures_url, failures_arn = queue("stream-failures")
    recorder = Recorder()
    recorder.fail_ids.add("poison")
    props = {
        "BatchSize": 1,
        "MaximumRetryAttempts": 2,
        "DestinationConfig": {"OnFailure": {"Destination": failures_arn}},
    }
    runtime, sources = running(stream_events(stream_arn, **props), recorder)
    try:
        put("cases", "poison")
        put("cases", "fine")
        assert sources.drain(timeout=15)
    finally:
        sources.stop()

    assert recorder.seen() == ["poison", "poison", "poison", "fine"]
    (message,) = messages(failures_url)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == runtime.arn("ConsumerFunction")
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["DDBStreamBatchInfo"]
    poison_sequence = recorder.batches[0][0]["dynamodb"]["SequenceNumber"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison_sequence
    assert info["batchSize"] == 1
    assert info["streamArn"] == stream_arn
    assert record["version"] == "1.0"


def test_a_reported_item_failure_resumes_the_batch_from_that_record() -> None:
    stream_arn = streamed_table("cases")
    table = boto3.resource("dynamodb", region_name=REGION).Table("cases")
    recorder = Recorder()
    recorder.fail_once.add("b")
    runtime = FakeRuntime(
        {
            "ConsumerFunction": Function(
                stream_events(
                    stream_arn, StartingPosition="TRIM_HORIZON", FunctionResponseTypes=["ReportBatchItemFailures"]
                )
            )
        },
        handler=recorder,
    )
    with table.batch_writer() as batch:
        for item_id in ("a", "b", "c"):
            batch.put_item(Item={"id": item_id})
    sources = EventSources(runtime)  # type: ignore[arg-type]
    sources.start()
    try:
        assert sources.drain(timeout=10)
    finally:
        sources.stop()

    assert [[_image_id(r) for r in batch] for batch in recorder.batches] == [["a", "b", "c"], ["b", "c"]]


def test_bisecting_isolates_the_failing_record() -> None:
    stream_arn = streamed_table("cases")
    failures_url, failures_arn = queue("stream-failures")
    recorder = Recorder()
    recorder.fail_ids.add("c")
    props = {
        "StartingPosition": "TRIM_HORIZON",
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 0,
        "DestinationConfig": {"OnFailure": {"Destination": failures_arn}},
    }
    for item_id in ("a", "b", "c", "d"):
        put("cases", item_id)
    runtime = FakeRuntime({"ConsumerFunction": Function(stream_events(stream_arn, **props))}, handler=recorder)
    sources = EventSources(runtime)  # type: ignore[arg-type]
    sources.start()
    try:
        assert sources.drain(timeout=10)
    finally:
        sources.stop()

    assert [[_image_id(r) for r in batch] for batch in recorder.batches] == [
        ["a", "b", "c", "d"],
        ["a", "b"],
        ["c", "d"],
        ["c"],
        ["d"],
    ]
    (message,) = messages(failures_url)
    assert json.loads(message["Body"])["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_stream_record_matching_no_filter_is_skipped() -> None:
    stream_arn = streamed_table("cases")
    recorder = Recorder()
    pattern = json.dumps({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["open"]}}}})
    _, sources = running(stream_events(stream_arn, FilterCriteria={"Filters": [{"Pattern": pattern}]}), recorder)
    try:
        put("cases", "closed-one", status={"S": "closed"})
        put("cases", "open-one", status={"S": "open"})
        assert sources.drain(timeout=10)
    finally:
        sources.stop()

    assert recorder.seen() == ["open-one"]


def test_drain_settles_a_cascade_from_a_stream_to_a_queue() -> None:
    stream_arn = streamed_table("cases")
    url, arn = queue("notifications")
    seen: list[str] = []

    def handler(function_id: str, event: dict[str, Any], now: Any) -> None:
        for record in event["Records"]:
            if function_id == "ChangesFunction":
                time.sleep(0.3)
                boto3.client("sqs", region_name=REGION).send_message(QueueUrl=url, MessageBody=_image_id(record))
            else:
                time.sleep(0.3)
                seen.append(record["body"])

    functions = {
        "ChangesFunction": Function(stream_events(stream_arn)),
        "NotifyFunction": Function({"Queue": {"Type": "SQS", "Properties": {"Queue": arn}}}),
    }
    runtime = FakeRuntime(functions, handler=handler)
    sources = EventSources(runtime)  # type: ignore[arg-type]
    sources.start()
    try:
        put("cases", "a")
        put("cases", "b")
        assert sources.drain(timeout=15)
        assert sorted(seen) == ["a", "b"]
    finally:
        sources.stop()

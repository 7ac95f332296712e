"""Event source mappings, emulated: SQS queues and DynamoDB streams polled into their functions,
S3 notifications delivered to theirs (s3_notifications.py), EventBridge events routed to the
functions whose rules match them (eventbridge.py, with the SES events of ses_events.py), and mail
received through the SES receipt rules (receipt_rules.py).

Events have the shape Lambda gives them, and failures take AWS's paths: an SQS batch that fails
stays on the queue until its visibility timeout (real time) ends, and moto's server moves a
message to the dead-letter queue on the receive after maxReceiveCount; a stream batch is retried
(bisected if asked) until MaximumRetryAttempts, then its description goes to the on-failure
destination. drain() waits until all of this has settled. A stream's ParallelizationFactor,
TumblingWindowInSeconds and MaximumBatchingWindowInSeconds are ignored: one poller per shard
delivers what it reads.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from closeloop_local.eventbridge import EventRouter
from closeloop_local.patterns import EventPattern
from closeloop_local.receipt_rules import Receiver
from closeloop_local.s3_notifications import S3Notifications
from closeloop_local.ses_events import SesEvents

if TYPE_CHECKING:
    from closeloop_local.runtime import InvocationResult, Runtime

log = logging.getLogger(__name__)

SQS_WAIT_SECONDS = 1  # long polls stay short so that stop() is quick
STREAM_POLL_SECONDS = (0.25, 1.0)  # as often as Lambda polls a shard, slowing down when idle
SHARD_DISCOVERY_SECONDS = 5.0
_SQS_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _filters(props: Mapping[str, Any]) -> list[EventPattern]:
    return [EventPattern(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters") or []]


def _wanted(filters: Sequence[EventPattern], record: Mapping[str, Any]) -> bool:
    return not filters or any(f.matches(record) for f in filters)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _region(arn: str) -> str:
    return arn.split(":")[3]


class Activity:
    """What drain() watches: invocations started and in flight, and a way to wake the pollers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.started = 0
        self.in_flight = 0
        self.stopping = threading.Event()

    def begin(self) -> None:
        with self._cond:
            self.started += 1
            self.in_flight += 1

    def end(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def nudge(self) -> None:
        """Wake every poller now (a drain wants a fresh read)."""
        with self._cond:
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, less if nudged or stopping."""
        if not self.stopping.is_set():
            with self._cond:
                self._cond.wait(seconds)


@dataclass(frozen=True)
class _Crash:
    """An invocation that raised instead of answering: a function error for the mapping."""

    error: dict[str, Any]
    ok: bool = False
    payload: Any = None


def _invoke(runtime: Runtime, activity: Activity, function_id: str, event: dict[str, Any]) -> InvocationResult | _Crash:
    """Invoke where drain() can see it."""
    activity.begin()
    try:
        return runtime.invoke(function_id, event)
    except Exception as exc:
        log.exception("%s: invocation failed", function_id)
        return _Crash({"errorMessage": str(exc)})
    finally:
        activity.end()


def reported_failures(payload: Any, known: Sequence[str]) -> list[str] | None:
    """The item identifiers of a partial batch response; None when the whole batch failed.

    As on AWS: no payload, or an empty or null batchItemFailures, is a success; an identifier
    that is empty or not in the batch fails the whole batch.
    """
    if not isinstance(payload, Mapping) or not payload.get("batchItemFailures"):
        return []
    failures = payload["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    ids = [f.get("itemIdentifier") if isinstance(f, Mapping) else None for f in failures]
    if any(not isinstance(i, str) or i not in known for i in ids):
        return None
    return [i for i in ids if isinstance(i, str)]


# ------------------------------------------------------------------ SQS


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A message received from SQS, as Lambda puts it in an event's Records."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {key: attributes[key] for key in _SQS_ATTRIBUTES if key in attributes},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record |= {
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": _region(queue_arn),
    }
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = _b64(value["BinaryValue"])
    shaped["stringListValues"] = list(value.get("StringListValues") or [])
    shaped["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues") or []]
    shaped["dataType"] = value["DataType"]
    return shaped


def _filterable_sqs(record: dict[str, Any]) -> dict[str, Any]:
    """The record as Lambda's filters see it: the body parsed when it is JSON."""
    try:
        return {**record, "body": json.loads(record["body"])}
    except ValueError:
        return record


class SqsMapping:
    """One SQS event of a function: a receiver thread, and up to MaximumConcurrency invocations."""

    def __init__(self, runtime: Runtime, activity: Activity, function_id: str, props: Mapping[str, Any]) -> None:
        self.runtime, self.activity, self.function_id = runtime, activity, function_id
        self.queue_arn: str = props["Queue"]
        self.batch_size = int(props.get("BatchSize", 10))
        self.window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        concurrency = int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 2))
        reserved = runtime.template.functions[function_id].reserved_concurrency
        self.concurrency = max(1, min(concurrency, reserved) if reserved else concurrency)
        self.filters = _filters(props)
        self._lock = threading.Lock()
        self._in_hand = 0  # messages received and not yet dealt with
        self._retry_at: dict[str, float] = {}  # message id -> when it is visible again, until deleted
        self._slots = threading.Semaphore(self.concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.sqs = self.runtime.client("sqs")
        parts = self.queue_arn.split(":")
        self.url = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["VisibilityTimeout"])
        self.visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"sqs-{self.function_id}")
        self._thread = threading.Thread(target=self._receive_forever, name=f"sqs-{self.function_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=SQS_WAIT_SECONDS + 5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def settled(self, deadline: float) -> bool:
        """No message waits to be received or is being dealt with, except messages waiting out a
        visibility timeout after a failure that ends after `deadline` (retried later, in real
        time, as on AWS).

        The queue's counts are taken one after the other: a failed message turning visible again
        between two of them is counted in neither. So when such a message is expected back
        before `deadline`, the queue is looked at twice."""
        with self._lock:
            now = time.monotonic()
            self._retry_at = {m: at for m, at in self._retry_at.items() if at > now - 60}
            coming_back = any(at <= deadline for at in self._retry_at.values())
        if not self._looks_settled(deadline):
            return False
        if not coming_back:
            return True
        time.sleep(0.1)
        return self._looks_settled(deadline)

    def _looks_settled(self, deadline: float) -> bool:
        counts = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        with self._lock:
            if self._in_hand:
                return False
            later = sum(1 for at in self._retry_at.values() if at > deadline)
        return (
            int(counts["ApproximateNumberOfMessages"]) == 0
            and int(counts["ApproximateNumberOfMessagesDelayed"]) == 0
            and int(counts["ApproximateNumberOfMessagesNotVisible"]) <= later
        )

    def _receive_forever(self) -> None:
        while not self.activity.stopping.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            messages = self._receive_batch()
            if not messages:
                self._slots.release()
                continue
            assert self._pool is not None
            self._pool.submit(self._deliver, messages)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        received_at = time.monotonic()
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=min(10, count),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        with self._lock:
            self._in_hand += len(messages)
            for message in messages:
                self._retry_at[message["MessageId"]] = received_at + self.visibility_timeout
        return messages

    def _receive_batch(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, gathered for up to MaximumBatchingWindowInSeconds."""
        messages: list[dict[str, Any]] = []
        try:
            messages = self._receive(self.batch_size, SQS_WAIT_SECONDS)
            window_ends = time.monotonic() + self.window
            while messages and len(messages) < self.batch_size and time.monotonic() < window_ends:
                more = self._receive(self.batch_size - len(messages), 0)
                messages += more
                if not more:
                    self.activity.stopping.wait(min(0.1, max(0.0, window_ends - time.monotonic())))
        except Exception as exc:
            log.warning("%s: receiving from %s failed: %s", self.function_id, self.queue_arn, exc)
            if not messages:
                self.activity.stopping.wait(1)
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._deliver_batch([sqs_record(m, self.queue_arn) for m in messages])
        except Exception:
            log.exception("%s: delivering messages from %s failed", self.function_id, self.queue_arn)
        finally:
            with self._lock:
                self._in_hand -= len(messages)
            self._slots.release()

    def _deliver_batch(self, records: list[dict[str, Any]]) -> None:
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for record in records:
            (kept if _wanted(self.filters, _filterable_sqs(record)) else dropped).append(record)
        if dropped:
            log.info("%s: %d message(s) matched no filter, deleted", self.function_id, len(dropped))
            self._delete(dropped)
        if not kept:
            return
        result = _invoke(self.runtime, self.activity, self.function_id, {"Records": kept})
        if not result.ok:
            log.error(
                "%s: %d message(s) from %s failed, retried after the visibility timeout: %s",
                self.function_id,
                len(kept),
                self.queue_arn,
                result.error,
            )
            return
        failed = reported_failures(result.payload, [r["messageId"] for r in kept]) if self.report_failures else []
        if failed is None:
            log.error("%s: invalid batchItemFailures, the whole batch is retried", self.function_id)
            return
        self._delete([r for r in kept if r["messageId"] not in failed])
        if failed:
            log.warning("%s: %d of %d message(s) reported failed", self.function_id, len(failed), len(kept))
        else:
            log.info("%s: %d message(s) from %s processed", self.function_id, len(kept), self.queue_arn)

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            )
        with self._lock:
            for record in records:
                self._retry_at.pop(record["messageId"], None)


# ------------------------------------------------------------------ DynamoDB streams


def _lambda_value(value: Any) -> Any:
    """An attribute value as the Lambda event writes it (binary as base64 text)."""
    if isinstance(value, bytes | bytearray):
        return _b64(bytes(value))
    if isinstance(value, Mapping):
        return {key: _lambda_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lambda_value(item) for item in value]
    return value


def stream_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record read from a DynamoDB stream, as Lambda puts it in an event's Records."""
    image = raw["dynamodb"]
    created = image["ApproximateCreationDateTime"]
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": int(created.timestamp() if isinstance(created, datetime) else created),
        "Keys": _lambda_value(image["Keys"]),
    }
    for key in ("NewImage", "OldImage"):
        if key in image:
            dynamodb[key] = _lambda_value(image[key])
    dynamodb |= {
        "SequenceNumber": image["SequenceNumber"],
        "SizeBytes": image["SizeBytes"],
        "StreamViewType": image["StreamViewType"],
    }
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": _region(stream_arn),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:
        record["userIdentity"] = raw["userIdentity"]
    return record


def _arrival(record: Mapping[str, Any]) -> str:
    at = datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class StreamMapping:
    """One DynamoDB event of a function: a poller per shard, parents before children."""

    def __init__(self, runtime: Runtime, activity: Activity, function_id: str, props: Mapping[str, Any]) -> None:
        self.runtime, self.activity, self.function_id = runtime, activity, function_id
        self.stream_arn: str = props["Stream"]
        self.starting_position = str(props.get("StartingPosition", "LATEST"))
        self.batch_size = int(props.get("BatchSize", 100))
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        self.max_age = int(props.get("MaximumRecordAgeInSeconds", -1))
        self.bisect = _flag(props.get("BisectBatchOnFunctionError", False))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        on_failure = (props.get("DestinationConfig") or {}).get("OnFailure") or {}
        self.destination: str | None = on_failure.get("Destination")
        self.filters = _filters(props)
        self.shards: dict[str, ShardPoller] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow the stream's shards; a stream that cannot be read stops the start."""
        self.streams = self.runtime.client("dynamodbstreams")
        try:
            self._follow(self._shards(), first=True)
        except (ClientError, BotoCoreError) as exc:
            raise RuntimeError(f"{self.function_id}: cannot read the stream {self.stream_arn}: {exc}") from exc
        self._thread = threading.Thread(target=self._discover_forever, name=f"stream-{self.function_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=SHARD_DISCOVERY_SECONDS + 5)
        for poller in list(self.shards.values()):
            poller.join()

    def read_since(self, moment: float) -> bool:
        """Every shard has been read to its end by a read that began after `moment`."""
        return all(poller.read_since(moment) for poller in list(self.shards.values()))

    def _shards(self) -> list[dict[str, Any]]:
        return list(self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"])

    def _discover_forever(self) -> None:
        while not self.activity.stopping.wait(SHARD_DISCOVERY_SECONDS):
            try:
                self._follow(self._shards(), first=False)
            except (ClientError, BotoCoreError) as exc:
                log.warning("%s: cannot describe %s: %s", self.function_id, self.stream_arn, exc)

    def _follow(self, shards: list[dict[str, Any]], *, first: bool) -> None:
        """Start a poller for each new shard whose parent, if any, has been read to its end."""
        known = {shard["ShardId"] for shard in shards}
        for shard in shards:
            shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
            if shard_id in self.shards:
                continue
            if parent in known and not (parent in self.shards and self.shards[parent].finished):
                continue
            poller = ShardPoller(self, shard_id, self.starting_position if first else "TRIM_HORIZON")
            poller.start()
            self.shards[shard_id] = poller


class ShardPoller:
    """Reads one shard in order; a batch is done when it succeeded or was given up on."""

    def __init__(self, mapping: StreamMapping, shard_id: str, position: str) -> None:
        self.mapping, self.shard_id, self.position = mapping, shard_id, position
        self.finished = False
        self._quiet_since: float | None = None  # when the last read that found nothing began
        self._checkpoint: str | None = None
        self._first_iterator: str | None = None
        self._thread = threading.Thread(target=self._poll_forever, name=f"shard-{shard_id[-8:]}", daemon=True)

    def start(self) -> None:
        """Take the first iterator now, so that LATEST means from this moment, not from the thread's first read."""
        self._first_iterator = self._iterator()
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=10)

    def read_since(self, moment: float) -> bool:
        quiet = self._quiet_since
        return self.finished or (quiet is not None and quiet >= moment)

    def _iterator(self) -> str:
        streams = self.mapping.streams
        if self._checkpoint is None:
            kind = "TRIM_HORIZON" if self.position == "TRIM_HORIZON" else "LATEST"
            return str(
                streams.get_shard_iterator(
                    StreamArn=self.mapping.stream_arn, ShardId=self.shard_id, ShardIteratorType=kind
                )["ShardIterator"]
            )
        return str(
            streams.get_shard_iterator(
                StreamArn=self.mapping.stream_arn,
                ShardId=self.shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=self._checkpoint,
            )["ShardIterator"]
        )

    def _poll_forever(self) -> None:
        activity, streams = self.mapping.activity, self.mapping.streams
        idle = STREAM_POLL_SECONDS[0]
        iterator: str | None = self._first_iterator
        while not activity.stopping.is_set():
            began = time.monotonic()
            self._quiet_since = None
            try:
                iterator = iterator or self._iterator()
                page = streams.get_records(ShardIterator=iterator, Limit=self.mapping.batch_size)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "TrimmedDataAccessException":
                    self._checkpoint, self.position = None, "TRIM_HORIZON"
                elif code != "ExpiredIteratorException":
                    log.warning("%s: reading %s failed: %s", self.mapping.function_id, self.shard_id, exc)
                    activity.pause(1)
                iterator = None
                continue
            except BotoCoreError as exc:
                log.warning("%s: reading %s failed: %s", self.mapping.function_id, self.shard_id, exc)
                iterator = None
                activity.pause(1)
                continue
            records = page.get("Records") or []
            iterator = page.get("NextShardIterator")
            if records:
                try:
                    self._process([stream_record(r, self.mapping.stream_arn) for r in records])
                except Exception:
                    log.exception("%s: records of %s skipped", self.mapping.function_id, self.shard_id)
                self._checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
                idle = STREAM_POLL_SECONDS[0]
                continue
            self._quiet_since = began
            if iterator is None:
                self.finished = True
                return
            activity.pause(idle)
            idle = min(idle * 2, STREAM_POLL_SECONDS[1])

    def _process(self, records: list[dict[str, Any]]) -> None:
        kept = [r for r in records if _wanted(self.mapping.filters, r)]
        if len(kept) < len(records):
            log.info("%s: %d stream record(s) matched no filter", self.mapping.function_id, len(records) - len(kept))
        if kept:
            self._deliver(kept, retries=0)

    def _deliver(self, batch: list[dict[str, Any]], retries: int) -> None:
        """Invoke until the batch succeeds, is split, or is given up on."""
        mapping = self.mapping
        invocations = 0
        while not mapping.activity.stopping.is_set():
            if mapping.max_age >= 0 and time.time() - batch[0]["dynamodb"]["ApproximateCreationDateTime"] > (
                mapping.max_age
            ):
                self._give_up(batch, "RecordAgeExceeded", invocations, None)
                return
            result = _invoke(mapping.runtime, mapping.activity, mapping.function_id, {"Records": batch})
            invocations += 1
            error: str | None = None
            if result.ok:
                sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
                failed = reported_failures(result.payload, sequence) if mapping.report_failures else []
                if failed == []:
                    log.info("%s: %d stream record(s) processed", mapping.function_id, len(batch))
                    return
                first = 0 if failed is None else min(sequence.index(f) for f in failed)
                log.warning("%s: stream batch failed from record %d, retried", mapping.function_id, first)
                batch = batch[first:]
            else:
                error = "Unhandled"
                log.error("%s: stream batch of %d failed: %s", mapping.function_id, len(batch), result.error)
                if mapping.bisect and len(batch) > 1:
                    half = len(batch) // 2
                    self._deliver(batch[:half], retries)
                    self._deliver(batch[half:], retries)
                    return
            retries += 1
            if 0 <= mapping.max_retries < retries:
                self._give_up(batch, "RetryAttemptsExhausted", invocations, error)
                return
            mapping.activity.stopping.wait(min(0.1 * 2**retries, 2.0))

    def _give_up(self, batch: list[dict[str, Any]], condition: str, invocations: int, error: str | None) -> None:
        """Skip the batch; describe it to the on-failure destination, as Lambda does."""
        mapping = self.mapping
        record: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": mapping.runtime.arn(mapping.function_id),
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"}
            | ({"functionError": error} if error else {}),
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _arrival(batch[0]),
                "approximateArrivalOfLastRecord": _arrival(batch[-1]),
                "batchSize": len(batch),
                "streamArn": mapping.stream_arn,
            },
        }
        destination = mapping.destination
        log.error(
            "%s: %d stream record(s) skipped (%s), described to %s",
            mapping.function_id,
            len(batch),
            condition,
            destination or "nowhere",
        )
        if destination is None:
            return
        body = json.dumps(record)
        with contextlib.suppress(ClientError, BotoCoreError):
            if ":sqs:" in destination:
                sqs = mapping.runtime.client("sqs")
                parts = destination.split(":")
                url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            elif ":sns:" in destination:
                mapping.runtime.client("sns").publish(TopicArn=destination, Message=body)
            else:
                log.warning("%s: on-failure destination %s is not emulated", mapping.function_id, destination)


# ------------------------------------------------------------------ all of them


class EventSources:
    """Every SQS and DynamoDB event of the template's functions, polled while the runtime runs."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._activity = Activity()
        self.queues: list[SqsMapping] = []
        self.streams: list[StreamMapping] = []
        self.s3 = S3Notifications(
            runtime, lambda fid, event: _invoke(runtime, self._activity, fid, event), self._activity.stopping
        )
        self.events = EventRouter(
            runtime, lambda fid, event: _invoke(runtime, self._activity, fid, event), self._activity.stopping
        )
        self.ses_events = SesEvents(runtime, self.events)
        self.receiver = Receiver(
            runtime, lambda fid, event: _invoke(runtime, self._activity, fid, event), self._activity.stopping
        )

    def start(self) -> None:
        self._activity.stopping.clear()
        for fid, spec in self._runtime.template.functions.items():
            for event in spec.events.values():
                props = event.get("Properties") or {}
                if not _flag(props.get("Enabled", True)):
                    continue
                if event.get("Type") == "SQS":
                    self.queues.append(SqsMapping(self._runtime, self._activity, fid, props))
                elif event.get("Type") == "DynamoDB":
                    self.streams.append(StreamMapping(self._runtime, self._activity, fid, props))
        mappings: list[SqsMapping | StreamMapping] = [*self.queues, *self.streams]
        for mapping in mappings:
            mapping.start()
        self.s3.start()
        self.events.start()
        self.ses_events.start()
        self.receiver.start()

    def stop(self) -> None:
        self._activity.stopping.set()
        self._activity.nudge()
        mappings: list[SqsMapping | StreamMapping] = [*self.queues, *self.streams]
        for mapping in mappings:
            mapping.stop()
        self.s3.stop()
        self.ses_events.stop()
        self.events.stop()
        self.receiver.stop()
        self.queues, self.streams = [], []

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until queues and streams have settled; False if `timeout` seconds were not enough.

        Settled: every stream read to its end, every mapped queue with no message visible,
        delayed or in hand, no S3 notification, EventBridge event or received mail waiting or
        being delivered, no invocation in
        flight, and none started during the last round of checks (so that a cascade, a stream
        consumer writing to a queue, settles too). A message
        waiting out a visibility timeout that ends after the timeout does not hold the drain.
        """
        deadline = time.monotonic() + timeout
        activity = self._activity
        mark, round_began = activity.started, time.monotonic()
        activity.nudge()
        while True:
            if activity.started != mark:
                mark, round_began = activity.started, time.monotonic()
                activity.nudge()
            elif (
                activity.in_flight == 0
                and all(s.read_since(round_began) for s in self.streams)
                and all(q.settled(deadline) for q in self.queues)
                and self.s3.settled()
                and self.events.settled()
                and self.receiver.settled()
                and activity.started == mark
            ):
                return True
            if time.monotonic() >= deadline:
                log.warning("queues and streams still busy after %ss", timeout)
                return False
            time.sleep(0.05)

"""S3 event notifications to functions, emulated as the template declares them.

Declarations: a function's SAM `Events: Type: S3` (`Bucket: !Ref B`, `Events`, `Filter.S3Key.Rules`
prefix and suffix) and a bucket's `NotificationConfiguration.LambdaConfigurations`. At start the
runtime gives each such bucket a notification configuration in moto whose target is one private
queue: moto itself queues a notification the moment an object is written (put_object, a
presigned PUT, a copy, a multipart upload), filters included. A thread reads that queue and
invokes the function with the event S3 gives Lambda: one record, eventVersion 2.1, eventSource
aws:s3, eventName such as ObjectCreated:Put, the bucket's name and ARN, the object's key
(URL-encoded, `/` kept), size, eTag and sequencer.

As for Lambda's asynchronous invocations, a failed invocation is tried twice more (after 1 and 2
seconds here, rather than minutes), then dropped with an error in the log. `settled()` tells
drain() whether a notification is still waiting or being delivered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from closeloop_local.runtime import Runtime

log = logging.getLogger(__name__)

QUEUE_NAME = "closeloop-local-s3-notifications"
WAIT_SECONDS = 1
RETRY_DELAYS = (1.0, 2.0)  # Lambda retries an asynchronous event twice (after about 1 and 2 minutes)
_FUNCTION = "AWS::Serverless::Function"


@dataclass(frozen=True)
class Notification:
    """One declared notification: which bucket's events go to which function."""

    configuration_id: str
    bucket: str
    function_id: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def queue_configuration(self, queue_arn: str) -> dict[str, Any]:
        rules = [
            {"Name": name, "Value": value}
            for name, value in (("prefix", self.prefix), ("suffix", self.suffix))
            if value
        ]
        configuration: dict[str, Any] = {
            "Id": self.configuration_id,
            "QueueArn": queue_arn,
            "Events": list(self.events),
        }
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        return configuration


def _as_list(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (str(value),)


def _rules(rules: Any) -> tuple[str, str]:
    prefix = suffix = ""
    for rule in rules or []:
        name = str(rule.get("Name", "")).lower()
        if name == "prefix":
            prefix = str(rule.get("Value", ""))
        elif name == "suffix":
            suffix = str(rule.get("Value", ""))
    return prefix, suffix


def declared(runtime: Runtime) -> list[Notification]:
    """Every notification to a function that the template declares."""
    template = runtime.template
    found: list[Notification] = []
    for function_id, spec in template.functions.items():
        for name, event in spec.events.items():
            if event.get("Type") != "S3":
                continue
            props = event.get("Properties") or {}
            prefix, suffix = _rules(((props.get("Filter") or {}).get("S3Key") or {}).get("Rules"))
            found.append(
                Notification(
                    f"{function_id}{name}", str(props["Bucket"]), function_id, _as_list(props["Events"]), prefix, suffix
                )
            )
    for logical_id, resource in template.resources.items():
        if resource.type != "AWS::S3::Bucket":
            continue
        configurations = (resource.properties.get("NotificationConfiguration") or {}).get("LambdaConfigurations") or []
        for index, configuration in enumerate(configurations):
            function_id = next(
                (fid for fid in template.functions if runtime.arn(fid) == str(configuration.get("Function"))), None
            )
            if function_id is None:
                raise RuntimeError(
                    f"bucket {logical_id}: notification to {configuration.get('Function')}, not a function here"
                )
            prefix, suffix = _rules(((configuration.get("Filter") or {}).get("S3Key") or {}).get("Rules"))
            found.append(
                Notification(
                    f"{logical_id}Notification{index}",
                    runtime.physical_name(logical_id),
                    function_id,
                    _as_list(configuration["Event"]),
                    prefix,
                    suffix,
                )
            )
    return found


def s3_record(moto_record: Mapping[str, Any], *, principal: str, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """A notification record as S3 sends it to Lambda, from the one moto queued."""
    s3 = moto_record["s3"]
    obj = s3["object"]
    key = unquote_plus(str(obj["key"]))
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": moto_record.get("awsRegion", "eu-west-1"),
        "eventTime": moto_record.get("eventTime") or datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        "eventName": moto_record["eventName"],
        "userIdentity": {"principalId": f"AWS:{principal}"},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": uuid.uuid4().hex,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": s3.get("configurationId", ""),
            "bucket": {
                "name": s3["bucket"]["name"],
                "ownerIdentity": {"principalId": principal},
                "arn": s3["bucket"].get("arn") or f"arn:aws:s3:::{s3['bucket']['name']}",
            },
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": int(obj.get("size") or 0),
                "eTag": str(obj.get("eTag", "")),
                "sequencer": f"{time.time_ns():018X}",
            },
        },
    }


Invoke = Callable[[str, dict[str, Any]], Any]


class S3Notifications:
    """The private queue moto fills, and the thread that delivers what it holds."""

    def __init__(self, runtime: Runtime, invoke: Invoke, stopping: threading.Event) -> None:
        self.runtime = runtime
        self.invoke = invoke
        self.stopping = stopping
        self.notifications: dict[str, Notification] = {}
        self._in_hand = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> None:
        found = declared(self.runtime)
        if not found:
            return
        self.notifications = {n.configuration_id: n for n in found}
        self.sqs = self.runtime.client("sqs")
        # A name of its own: moto's state is one per process, and two runtimes in one process (a
        # test run) must not read each other's notifications.
        name = f"{QUEUE_NAME}-{uuid.uuid4().hex[:8]}"
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        by_bucket: dict[str, list[Notification]] = {}
        for notification in found:
            by_bucket.setdefault(notification.bucket, []).append(notification)
        s3 = self.runtime.client("s3")
        for bucket, notifications in by_bucket.items():
            try:
                s3.put_bucket_notification_configuration(
                    Bucket=bucket,
                    NotificationConfiguration={
                        "QueueConfigurations": [n.queue_configuration(arn) for n in notifications]
                    },
                )
            except (ClientError, BotoCoreError) as exc:
                raise RuntimeError(f"cannot set the notifications of bucket {bucket}: {exc}") from exc
        self._thread = threading.Thread(target=self._deliver_forever, name="s3-notifications", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=WAIT_SECONDS + 5)
            self._thread = None

    def settled(self) -> bool:
        """No notification waits in the queue or is being delivered."""
        if not self.url:
            return True
        with self._lock:
            if self._in_hand:
                return False
        counts = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(counts["ApproximateNumberOfMessages"]) == 0
            and int(counts["ApproximateNumberOfMessagesNotVisible"]) == 0
        )

    def _deliver_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                # Until counted in hand, a received message still counts as not visible in the queue.
                messages = self.sqs.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=WAIT_SECONDS
                ).get("Messages", [])
                with self._lock:
                    self._in_hand += len(messages)
            except (ClientError, BotoCoreError) as exc:
                log.warning("reading the S3 notifications failed: %s", exc)
                self.stopping.wait(1)
                continue
            for message in messages:
                try:
                    self._deliver(message["Body"])
                except Exception:
                    log.exception("an S3 notification could not be delivered")
                finally:
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                    with self._lock:
                        self._in_hand -= 1

    def _deliver(self, body: str) -> None:
        notification = json.loads(body)
        if notification.get("Event") == "s3:TestEvent":
            return  # S3 sends it when a configuration is set; Lambda targets never see it
        for moto_record in notification.get("Records") or []:
            target = self.notifications.get(moto_record.get("s3", {}).get("configurationId", ""))
            if target is None:
                continue
            event = {"Records": [s3_record(moto_record, principal=self.runtime.resolver.pseudo.account_id)]}
            self._invoke_with_retries(target.function_id, event)

    def _invoke_with_retries(self, function_id: str, event: dict[str, Any]) -> None:
        key = event["Records"][0]["s3"]["object"]["key"]
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay and self.stopping.wait(delay):
                return
            result = self.invoke(function_id, event)
            if result.ok:
                log.info("%s: S3 notification for %s delivered", function_id, key)
                return
            log.warning(
                "%s: S3 notification for %s failed (attempt %d): %s", function_id, key, attempt + 1, result.error
            )
        log.error("%s: S3 notification for %s dropped after %d attempts", function_id, key, 1 + len(RETRY_DELAYS))

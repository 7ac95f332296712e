"""Dispatch: AWS calls per invited contact (planning + sending), the time to send 10,000 emails at
an SES rate of 100 per second, and how many emails were lost or doubled.

moto's server runs in this process, with every resource of template.yaml. Contacts are loaded with
plain writes; a wave is planned by the real planner (`closeloop.services.planning.run_wave_step`).
The send queue is then drained as Lambda's event source mapping would, with a MaximumConcurrency
of 5 (SENDER_CONCURRENCY; the template's default is 2, for its default rate of 14/s): 5 sender
instances side by side, each in a process of its own (a Lambda container has its own CPU: threads
sharing one interpreter would measure its lock, not the sender), each taking batches of up to 5
messages and calling the real sender (`process_send_queue`), pacing at its share of MAX_SEND_RATE
(20/s). SES is a stand-in served over HTTP from a process of its own (`AWS_ENDPOINT_URL_SESV2`)
that accepts at most 100 sends in any second and answers the rest TooManyRequestsException; it counts what it accepted
by the X-Closeloop-Invitation header: `lost` are reserved invitations it never accepted,
`duplicates` emails it accepted more than once for one invitation.

AWS calls are counted where they arrive, botocore's BaseClient._make_api_call, in each process
(PynamoDB's own session, botocore's retries and the SES calls, throttled ones included), by the
function that serves the unit of work: planning and sending together for `calls_per_contact`;
the SendBatches stream consumer (dispatch_ledger) as its own figure. Calls the Lambda service
makes (receiving and deleting queue messages, reading the stream) are not counted.

moto's server is the local runtime's (closeloop_local.moto_server), without three costs real AWS
does not have (Nagle's delay on every answer, SQS receives in O(n^2), a table copied once per item
of a transaction): changes to the emulator, none to what is measured.

Prints `name: value` lines: measurements, not verdicts. `--sizes 1000` for a quicker run.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import multiprocessing
import os
import re
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "eu-west-1"
SES_RATE = 100
INSTANCES = 5  # the send queue mapping's MaximumConcurrency in this run
BATCH_SIZE = 5  # the send queue mapping's BatchSize
CONSUMER_BATCH = 25  # the SendBatches stream mapping's BatchSize
FUNCTION_TIMEOUT_MS = 120_000
QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}

os.environ.update(
    {**QUIET, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}
)
os.environ["AWS_REGION"] = REGION
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SESV2"):
    os.environ.pop(_name, None)

_phase = threading.local()


@contextmanager
def phase(name: str) -> Iterator[None]:
    """AWS calls made in this thread meanwhile are counted for `name`."""
    previous = getattr(_phase, "name", "setup")
    _phase.name = name
    try:
        yield
    finally:
        _phase.name = previous


class Calls:
    """AWS calls of this process by phase and service, counted at botocore's _make_api_call."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.original = BaseClient._make_api_call
        calls = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            key = f"{getattr(_phase, 'name', 'setup')}/{client.meta.service_model.service_name}"
            with calls._lock:
                calls.counts[key] += 1
            return calls.original(client, operation, params)

        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def restore(self) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self.original  # type: ignore[method-assign]


def by_service(counts: Counter[str], *phases: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for key, count in counts.items():
        name, service = key.split("/", 1)
        if name in phases:
            found[service] += count
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ------------------------------------------------------------------ the SES stand-in


class SesStandIn:
    """SES v2's SendEmail over HTTP, at most `rate` sends in any second; the rest are throttled.

    It serves from a process of its own (as SES is not in the Lambda containers), and answers its
    counts at `GET /_counts`: what it accepted by invitation id, the throttled calls, and the
    monotonic time (shared by the processes of one machine) of the last email accepted.
    """

    _HEADER = re.compile(rb"^X-Closeloop-Invitation: ([a-z2-7]{26})\r?$", re.MULTILINE)

    def __init__(self, rate: int) -> None:
        self.port = _free_port()
        started = multiprocessing.get_context("spawn").Event()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve_ses, args=(rate, self.port, started), daemon=True
        )
        self.process.start()
        if not started.wait(timeout=60):
            raise RuntimeError("the SES stand-in did not start")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/_counts", timeout=30) as answer:
            counts: dict[str, Any] = json.loads(answer.read())
            return counts

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def _serve_ses(rate: int, port: int, started: Any) -> None:
    accepted: Counter[str] = Counter()
    window: deque[float] = deque()
    state = {"throttled": 0, "last_accepted": 0.0}
    lock = threading.Lock()

    def send(raw: bytes) -> tuple[int, dict[str, str]]:
        found = SesStandIn._HEADER.search(raw)
        invitation_id = found.group(1).decode() if found else "?"
        with lock:
            now = time.monotonic()
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= rate:
                state["throttled"] += 1
                return 429, {"message": "Maximum sending rate exceeded."}
            window.append(now)
            accepted[invitation_id] += 1
            state["last_accepted"] = now
        return 200, {"MessageId": f"bench-{uuid.uuid4().hex}"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects
        disable_nagle_algorithm = True  # headers and body in one go (closeloop_local.moto_server)

        def log_message(self, *_args: Any) -> None:
            return

        def _answer(self, status: int, answer: Any, *, throttled: bool = False) -> None:
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            if throttled:
                self.send_header("x-amzn-ErrorType", "TooManyRequestsException")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                counts = {"accepted": dict(accepted), **state}
            self._answer(200, counts)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            raw = base64.b64decode(request.get("Content", {}).get("Raw", {}).get("Data", ""))
            status, answer = send(raw)
            self._answer(status, answer, throttled=status != 200)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    started.set()
    server.serve_forever()


# ------------------------------------------------------------------ one sender instance (a process)


class Context:
    """The Lambda context of one invocation: its remaining time runs down from the function's timeout."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.aws_request_id = uuid.uuid4().hex
        self.function_name = "closeloop-bench-sender"

    def get_remaining_time_in_millis(self) -> int:
        return int(FUNCTION_TIMEOUT_MS - (time.monotonic() - self.started) * 1000)


def sender_instance(environment: dict[str, str], ready: Any, go: Any, stop: Any, results: Any) -> None:
    """Lambda's poller and one sender container: receive up to 5 messages, invoke, delete the done."""
    os.environ.update(environment)
    import boto3

    from closeloop.caches import forget_all
    from closeloop.observability import logger, metrics
    from closeloop.services.sending import process_send_queue

    forget_all()
    logger.setLevel("ERROR")
    _warm_up()
    calls = Calls()
    sqs = boto3.client("sqs", region_name=REGION)
    url = environment["SEND_QUEUE_URL"]
    ready.release()
    go.wait()
    while not stop.is_set():
        with phase("mapping"):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH_SIZE, WaitTimeSeconds=0).get(
                "Messages", []
            )
        if not messages:
            time.sleep(0.05)
            continue
        records = [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:send",
                "awsRegion": REGION,
            }
            for message in messages
        ]
        with phase("sending"):
            answer = process_send_queue({"Records": records}, Context())
        metrics.clear_metrics()  # the handler's decorator flushes them at the end of an invocation
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        with phase("mapping"):
            done = [
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                for n, message in enumerate(messages)
                if message["MessageId"] not in failed
            ]
            if done:
                sqs.delete_message_batch(QueueUrl=url, Entries=done)
            for message in messages:
                if message["MessageId"] in failed:  # retried at once, not after the visibility timeout
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
    results.put(dict(calls.counts))


def _warm_up() -> None:
    """What a warm container has done before: its clients made (botocore reads its JSON models,
    half a second of CPU per client here) and its templates compiled. Not AWS calls."""
    from closeloop import aws
    from closeloop.models import Contact, Invitation, ReplyToken, SendBatch, Suppression

    for service in ("sesv2", "sqs"):
        aws.client(service)
    for model in (Contact, Invitation, ReplyToken, SendBatch, Suppression):
        model._get_connection().connection.client  # noqa: B018 - PynamoDB makes its client on first use


# ------------------------------------------------------------------ the run


def _load_contacts(count: int) -> None:
    from closeloop.ids import new_id
    from closeloop.models import Contact
    from closeloop.secrets import email_hash, hash_key

    key = hash_key()
    with Contact.batch_write() as writer:
        for n in range(count):
            address = f"contact{n}@client-{n % 997}.example"
            writer.save(
                Contact(
                    new_id(),
                    email=address,
                    email_hash=email_hash(address, key),
                    first_name="Hélène" if n % 2 else "James",
                    last_name=f"Dupré {n}",
                    segment="bench",
                    language="fr" if n % 2 else "en",
                )
            )


def _wave() -> str:
    from datetime import timedelta

    from closeloop import clock
    from closeloop.ids import new_id
    from closeloop.models import Wave
    from closeloop.models.wave import Target

    now = clock.now()
    wave = Wave(
        new_id(),
        name="Bench",
        status="planned",
        target=Target(segments=["bench"], languages=[]),
        starts_at=now,
        reminder_at=now + timedelta(days=7),
        closes_at=now + timedelta(days=21),
        month=now.strftime("%Y-%m"),
    )
    wave.subjects.fr, wave.subjects.en = "Votre avis compte", "Your opinion matters"
    wave.save()
    return str(wave.wave_id)


def _apply_ledger_stream(endpoint: str) -> None:
    """The SendBatches stream, read from its start and fed to dispatch_ledger 25 records at a time."""
    import boto3

    from closeloop.services.dispatch_ledger import process_ledger_stream
    from closeloop.settings import get_settings

    with phase("mapping"):
        table = get_settings().send_batches_table
        arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)["Table"]["LatestStreamArn"]
        streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=endpoint)
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                answer = streams.get_records(ShardIterator=iterator, Limit=1000)
                records += answer["Records"]
                if not answer["Records"]:
                    break
                iterator = answer.get("NextShardIterator")
    for start in range(0, len(records), CONSUMER_BATCH):
        with phase("consumer"):
            answer = process_ledger_stream({"Records": records[start : start + CONSUMER_BATCH]}, Context())
        if answer["batchItemFailures"]:
            raise RuntimeError(f"dispatch_ledger failed on {len(answer['batchItemFailures'])} record(s)")


def run(contacts: int, *, consumer: bool) -> dict[str, float]:
    from closeloop.caches import forget_all
    from closeloop.models import Invitation
    from closeloop.observability import logger
    from closeloop.services.planning import run_wave_step
    from closeloop_local.moto_server import moto_server
    from closeloop_local.template import Pseudo, Resolver, provision
    from closeloop_local.workers import FAKE_SECRET_KEY
    from tests.support import TEMPLATE

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    moto = moto_server("127.0.0.1", _free_port())
    moto.start()
    ses = SesStandIn(SES_RATE)
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto's state lives in this process: a run starts from nothing, whatever ran before it
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        forget_all()

        class Provisioner:
            region = REGION

            def client(self, service: str) -> Any:
                import boto3

                return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

        resolved = provision(
            Resolver(TEMPLATE, parameters={"Stage": "bench"}, pseudo=Pseudo(region=REGION)), Provisioner()
        )
        environment = {
            **resolved.globals_environment,
            **resolved.functions["WaveScheduleFunction"].environment,
            **resolved.functions["SenderFunction"].environment,
            "MAX_SEND_RATE": str(SES_RATE),
            "SENDER_CONCURRENCY": str(INSTANCES),
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            **QUIET,
        }
        os.environ.update(environment)
        forget_all()
        logger.setLevel("ERROR")
        _load_contacts(contacts)
        wave_id = _wave()

        calls = Calls()
        try:
            with phase("planning"):
                run_wave_step(wave_id, "start")
            with phase("mapping"):
                reserved = {
                    item.invitation_id for item in Invitation.by_wave.query(wave_id) if item.status != "skipped"
                }

            spawn = multiprocessing.get_context("spawn")
            ready, go, stop, results = spawn.Semaphore(0), spawn.Event(), spawn.Event(), spawn.Queue()
            worker_environment = {**environment, "AWS_ENDPOINT_URL_SESV2": ses.endpoint}
            instances = [
                spawn.Process(target=sender_instance, args=(worker_environment, ready, go, stop, results))
                for _ in range(INSTANCES)
            ]
            for instance in instances:
                instance.start()
            for _ in instances:
                ready.acquire()
            began = time.monotonic()
            go.set()
            deadline = began + 120 + 3 * contacts / SES_RATE
            while time.monotonic() < deadline and len(ses.counts()["accepted"]) < len(reserved):
                time.sleep(0.5)
            time.sleep(1.0)  # a duplicate would show now
            stop.set()
            counted = ses.counts()
            accepted: Counter[str] = Counter(counted["accepted"])
            worker_counts: Counter[str] = Counter()
            for _ in instances:
                worker_counts.update(results.get(timeout=60))
            for instance in instances:
                instance.join(timeout=30)
            seconds = (counted["last_accepted"] or time.monotonic()) - began
            if consumer:
                _apply_ledger_stream(endpoint)
        finally:
            calls.restore()
        counts = calls.counts + worker_counts
    finally:
        ses.stop()
        moto.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)

    invited = max(1, len(reserved))
    functions = by_service(counts, "planning", "sending")
    figures: dict[str, float] = {f"dispatch.calls_per_contact.{contacts}": sum(functions.values()) / invited}
    for service, count in sorted(functions.items()):
        figures[f"dispatch.calls_per_contact.{contacts}.{service}"] = count / invited
    figures[f"dispatch.planning_calls_per_contact.{contacts}"] = sum(by_service(counts, "planning").values()) / invited
    if consumer:
        figures[f"dispatch.consumer_calls_per_contact.{contacts}"] = (
            sum(by_service(counts, "consumer").values()) / invited
        )
    figures[f"dispatch.send_seconds.{contacts}_at_{SES_RATE}ps"] = seconds
    figures[f"dispatch.throttled.{contacts}_at_{SES_RATE}ps"] = counted["throttled"]
    figures[f"dispatch.invited.{contacts}"] = len(reserved)
    figures[f"dispatch.cpus.{contacts}"] = os.cpu_count() or 0  # the emulator and 5 senders share them
    figures[f"dispatch.lost.{contacts}"] = len(reserved - set(accepted))
    figures[f"dispatch.duplicates.{contacts}"] = sum(count - 1 for count in accepted.values() if count > 1)
    figures[f"dispatch.unknown.{contacts}"] = len(set(accepted) - reserved)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="wave sizes, comma-separated")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for size in (int(size) for size in args.sizes.split(",") if size.strip()):
        figures.update(run(size, consumer=size <= 1000))
    figures["dispatch.lost"] = sum(v for k, v in figures.items() if k.startswith("dispatch.lost."))
    figures["dispatch.duplicates"] = sum(v for k, v in figures.items() if k.startswith("dispatch.duplicates."))
    for name, value in figures.items():
        shown = f"{value:.2f}" if "calls" in name or "seconds" in name else f"{value:.0f}"
        print(f"{name}: {shown}")


if __name__ == "__main__":  # sender instances start with spawn, which imports this module again
    main()

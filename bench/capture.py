"""Capture: the AWS calls the capture function makes per survey GET and per POST, and its cold start
against boto3's own.

moto's server runs in this process with every resource of template.yaml; invitations are written
as the sender leaves them (sent, delivered, with what the send copies onto them). The capture
function's handler (functions/capture/app.py) answers the sample events of events/http, aimed at
each invitation's survey token.

- `capture.get_calls`, `capture.post_calls`: AWS calls counted where they arrive, botocore's
  BaseClient._make_api_call (PynamoDB's own session and botocore's retries included), per request
  of a warm container (after one request of each kind: the token keys and the hash key come from
  Secrets Manager once per container, cached 5 minutes). GETs of every score; POSTs that record a
  first answer, then POSTs that change it.
- `capture.cold_start_ms`: what the issue calls the cold start, import and initialisation in a
  fresh Python process: functions/capture/app.py imported (its module level: the resolver, its
  routers, the domain package), its settings read and its DynamoDB client made, with the
  function's environment from the template; `capture.boto3_baseline_ms`: a fresh process that
  imports boto3 and makes one client. `capture.cold_start_ratio` is the first over the second.
- `capture.first_get_ms`: a fresh process that imports the function and serves one GET: the
  above plus the Secrets Manager client and its two secrets, the invitation's read, the click's
  write and the page's templates compiled (what a customer waits for on a cold container, the
  network aside); `capture.first_get_ratio` is it over the baseline.
  Whole processes, from the spawn to the end of their work: interpreter start included on every
  side, the exit left out (a Lambda container does not exit after its first request). The median
  of `--runs` runs each, alternated.

Prints `name: value` lines: measurements, not verdicts.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "eu-west-1"
REQUESTS = 22  # GETs (two of each score) and as many POSTs, per figure
QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
os.environ["AWS_REGION"] = REGION
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)

_COLD_CHILD = """
import json, sys, uuid
sys.path.insert(0, sys.argv[1])  # the function's code first, as Lambda puts it
import app

if sys.argv[3] == "init":  # what Lambda's init phase and the baseline do: imports, settings, a client
    from closeloop import aws
    from closeloop.settings import get_settings

    get_settings()
    aws.client("dynamodb")
    ok = True
else:
    class Context:
        function_name = "closeloop-bench-capture"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:closeloop-bench-capture"
        aws_request_id = uuid.uuid4().hex
        log_group_name = log_stream_name = ""
        def get_remaining_time_in_millis(self):
            return 10_000

    ok = app.lambda_handler(json.loads(sys.argv[2]), Context())["statusCode"] == 200
import time
print(f"done: {time.perf_counter()!r}", flush=True)
sys.exit(0 if ok else 3)
"""

_BASELINE_CHILD = """
import boto3
boto3.client("dynamodb")
import time
print(f"done: {time.perf_counter()!r}", flush=True)
"""


class Calls:
    """AWS calls of this process, counted at botocore's _make_api_call while `counting`."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.count = 0
        self.by_operation: dict[str, int] = {}
        self._on = False
        self._lock = threading.Lock()
        original = BaseClient._make_api_call
        calls = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if calls._on:
                with calls._lock:
                    calls.count += 1
                    calls.by_operation[operation] = calls.by_operation.get(operation, 0) + 1
            return original(client, operation, params)

        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    @contextmanager
    def counting(self) -> Iterator[None]:
        self._on = True
        try:
            yield
        finally:
            self._on = False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _invitations(count: int) -> list[str]:
    """A sending wave and `count` invitations as the sender and the delivery event leave them."""
    from closeloop import clock
    from closeloop.ids import new_id
    from closeloop.models import Invitation, Wave, invitation_id_for
    from closeloop.models.invitation import SendStep
    from closeloop.secrets import email_hash

    now = clock.now()
    wave = Wave(
        new_id(),
        name="Bench",
        status="sending",
        starts_at=now - timedelta(hours=3),
        reminder_at=now + timedelta(days=7),
        closes_at=now + timedelta(days=21),
        month=now.strftime("%Y-%m"),
    )
    wave.save()
    key = None
    ids = []
    with Invitation.batch_write() as writer:
        for index in range(count):
            contact_id = new_id()
            invitation_id = invitation_id_for(wave.wave_id, contact_id)
            address = f"bench{index}@pharmacie.example"
            key = key or _hash_key()
            writer.save(
                Invitation(
                    invitation_id,
                    wave_id=wave.wave_id,
                    contact_id=contact_id,
                    status="delivered",
                    segment="pharmacy",
                    language="fr" if index % 2 else "en",
                    weight=1,
                    month=wave.month,
                    first_name=f"Name{index}",
                    email_hash=email_hash(address, key),
                    closes_at=wave.closes_at,
                    first=SendStep(state="sent", at=now - timedelta(hours=2), batch_id=new_id(), attempts=1),
                    delivered_at=now - timedelta(hours=2) + timedelta(seconds=4),
                )
            )
            ids.append(invitation_id)
    return ids


def _hash_key() -> bytes:
    from closeloop.secrets import hash_key

    return hash_key()


def _event(method: str, token: str, score: int | None = None, form: dict[str, str] | None = None) -> dict[str, Any]:
    """A sample event of events/http (loaded, not copied), aimed at one token."""
    name = "survey-send.json" if method == "POST" else "survey-click.json"
    event: dict[str, Any] = json.loads((ROOT / "events" / "http" / name).read_text())
    if method == "POST":
        path, route = f"/r/{token}", "POST /r/{token}"
        event["pathParameters"] = {"token": token}
        event["body"] = base64.b64encode(urlencode(form or {}).encode()).decode()
        event["isBase64Encoded"] = True
    else:
        path, route = f"/r/{token}/{score}", f"{method} /r/{{token}}/{{score}}"
        event["pathParameters"] = {"token": token, "score": str(score)}
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["userAgent"] = BROWSER
    event["headers"]["user-agent"] = BROWSER
    return event


class _Context:
    function_name = "closeloop-bench-capture"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:closeloop-bench-capture"
    log_group_name = log_stream_name = ""

    def __init__(self) -> None:
        self.aws_request_id = uuid.uuid4().hex

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    path = ROOT / "functions" / "capture" / "app.py"
    spec = importlib.util.spec_from_file_location("bench_capture_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.lambda_handler
    return handler


def _answered(answer: dict[str, Any], what: str) -> None:
    if answer["statusCode"] != 200:
        raise RuntimeError(f"{what} answered {answer['statusCode']}: the figures would mean nothing")


def calls_per_request(ids: list[str]) -> dict[str, float]:
    """Warm-container AWS calls per GET and per POST."""
    from closeloop.tokens import survey_token

    handler = _handler()
    calls = Calls()
    warm, *measured = ids
    warm_token = survey_token(warm)
    _answered(handler(_event("GET", warm_token, 3), _Context()), "the warm-up GET")
    _answered(handler(_event("POST", warm_token, form={"score": "3"}), _Context()), "the warm-up POST")

    tokens = [survey_token(invitation_id) for invitation_id in measured]
    with calls.counting():
        for index, token in enumerate(tokens):
            _answered(handler(_event("GET", token, index % 11), _Context()), "a GET")
    gets, calls.count = calls.count, 0
    with calls.counting():
        for index, token in enumerate(tokens):  # first answers, then changes of mind
            form = {"score": str(index % 11), "comment": "Livraisons en retard." if index % 3 == 0 else ""}
            _answered(handler(_event("POST", token, form=form), _Context()), "a POST")
        for index, token in enumerate(tokens):
            form = {"score": str((index + 5) % 11), "comment": "Finalement, ça va mieux."}
            _answered(handler(_event("POST", token, form=form), _Context()), "a changing POST")
    posts = calls.count
    return {"capture.get_calls": gets / len(tokens), "capture.post_calls": posts / (2 * len(tokens))}


def cold_starts(environment: dict[str, str], token: str, runs: int) -> dict[str, float]:
    """Median wall times of fresh processes: the function imported and initialised, the function
    serving one GET, and boto3 imported with one client."""
    code = str(ROOT / "functions" / "capture")
    event = json.dumps(_event("GET", token, 8))

    def timed(arguments: list[str]) -> float:
        """Milliseconds from the spawn to the end of the child's work (its exit, which a Lambda
        container never makes, is left out). perf_counter is the system's monotonic clock on Linux,
        the same in every process."""
        began = time.perf_counter()
        done = subprocess.run(  # our own interpreter and code
            [sys.executable, *arguments],
            env=environment,
            cwd=code,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"a cold start failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        [finished] = [line for line in done.stdout.decode().splitlines() if line.startswith("done: ")]
        return (float(finished.split(" ", 1)[1]) - began) * 1000

    kinds = {
        "init": ["-c", _COLD_CHILD, code, event, "init"],
        "get": ["-c", _COLD_CHILD, code, event, "get"],
        "baseline": ["-c", _BASELINE_CHILD],
    }
    measured: dict[str, list[float]] = {kind: [] for kind in kinds}
    for arguments in kinds.values():  # the file system's caches warmed once for each
        timed(arguments)
    for _ in range(runs):
        for kind, arguments in kinds.items():
            measured[kind].append(timed(arguments))
    init, get, base = (statistics.median(measured[kind]) for kind in ("init", "get", "baseline"))
    return {
        "capture.cold_start_ms": init,
        "capture.boto3_baseline_ms": base,
        "capture.cold_start_ratio": init / base,
        "capture.first_get_ms": get,
        "capture.first_get_ratio": get / base,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each kind (the median is printed)")
    args = parser.parse_args()

    from closeloop.caches import forget_all
    from closeloop.observability import logger
    from closeloop.tokens import survey_token
    from closeloop_local.moto_server import moto_server
    from closeloop_local.template import Pseudo, Resolver, provision

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    moto = moto_server("127.0.0.1", _free_port())
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        forget_all()

        class Provisioner:
            region = REGION

            def client(self, service: str) -> Any:
                import boto3

                return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

        resolved = provision(
            Resolver(ROOT / "template.yaml", parameters={"Stage": "bench"}, pseudo=Pseudo(region=REGION)), Provisioner()
        )
        function = {**resolved.globals_environment, **resolved.functions["CaptureFunction"].environment}
        os.environ.update({**function, **QUIET})
        forget_all()
        logger.setLevel("ERROR")
        ids = _invitations(REQUESTS + 2)
        figures = calls_per_request(ids[:-1])

        machine = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        figures.update(cold_starts({**machine, **function, **aws}, survey_token(ids[-1]), args.runs))
    finally:
        moto.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)
    for name, value in figures.items():
        shown = f"{value:.2f}" if "calls" in name or "ratio" in name else f"{value:.0f}"
        print(f"{name}: {shown}")


if __name__ == "__main__":
    main()

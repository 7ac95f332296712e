"""What follows a response: AWS calls of the Responses stream consumers per response, and of the
promoter per invitation it judges.

moto runs in this process (moto's in-process mock, with the local runtime's exact numbers), with
every resource of template.yaml. Responses are written by capture's own write
(`record_response`): N answers over 2 waves, 3 segments and 2 languages, a quarter of them
promoted clicks later confirmed, a third of them changed to another score. The Responses stream is
then read and handed to the `counters` handler in batches of 100 and to `response_flow` in batches
of 10, as their mappings would. For the promoter, N invitations each hold one person's click past
its delay (and N/2 more a scanner's burst of 11 clicks), then one run of the promoter handler.

AWS calls are counted where they arrive, botocore's BaseClient._make_api_call (PynamoDB's own
client included), by the function that serves the unit of work. Reading the stream is Lambda's
work, not counted.

Prints `name: value` lines: measurements, not verdicts. `--responses 50` for a quicker run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "eu-west-1"
COUNTERS_BATCH = 100  # the counters mapping's BatchSize (template.yaml)
FLOW_BATCH = 10  # response_flow's

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)


class Calls:
    """AWS calls of this process, counted at botocore's _make_api_call while `counting`."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.counts: Counter[str] = Counter()
        self.on = False
        original = BaseClient._make_api_call
        calls = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if calls.on:
                calls.counts[f"{client.meta.service_model.service_name}.{operation}"] += 1
            return original(client, operation, params)

        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.counts = Counter()
        self.on = True
        try:
            yield self.counts
        finally:
            self.on = False


@contextmanager
def provisioned(*functions: str) -> Iterator[Any]:
    """moto in this process with every resource of template.yaml (the local runtime's exact
    numbers), this process configured as a function: the Globals environment, plus the own
    environment of the functions named. Yields the resolved template."""
    import boto3
    from moto import mock_aws

    from closeloop.caches import forget_all
    from closeloop.observability import logger
    from closeloop.settings import get_settings
    from closeloop_local.moto_numbers import exact_numbers
    from closeloop_local.template import Pseudo, Resolver, provision
    from tests.support import TEMPLATE

    class InProcess:
        region = REGION

        def client(self, service: str) -> Any:
            return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    with mock_aws():
        exact_numbers()
        resolved = provision(
            Resolver(TEMPLATE, parameters={"Stage": "bench"}, pseudo=Pseudo(region=REGION)), InProcess()
        )
        os.environ.update(resolved.globals_environment)
        for function in functions:
            os.environ.update(resolved.functions[function].environment)
        get_settings.cache_clear()
        forget_all()
        logger.setLevel("ERROR")
        yield resolved


def run(responses: int) -> dict[str, float]:
    from closeloop import clock
    from closeloop.ids import new_id
    from closeloop.models import Click
    from closeloop.services.capture import promote_shard, record_response
    from tests.integration.dispatch import make_wave
    from tests.integration.responses_support import responses_stream, sent_invitation
    from tests.support import LambdaContext, load_handler

    figures: dict[str, float] = {}
    with provisioned():
        counters, flow, promoter = load_handler("counters"), load_handler("response_flow"), load_handler("promoter")
        calls = Calls()

        # Responses and their changes, then the stream handed to both consumers
        waves = [make_wave(month="2027-03"), make_wave(month="2027-04")]
        stream = responses_stream()
        invitations = [
            sent_invitation(
                waves[n % 2].wave_id,
                segment=("pharmacy", "hospital", "partner")[n % 3],
                language=("fr", "en")[n % 2],
                weight=(1, 1.5, 0.75)[n % 3],
                month=waves[n % 2].month,
            )
            for n in range(responses)
        ]
        for n, invitation in enumerate(invitations):
            if n % 4 == 0:
                record_response(invitation.invitation_id, n % 11, None, source="click", confirmed=False)
            record_response(invitation.invitation_id, n % 11, "Un commentaire." if n % 2 else None)
            if n % 3 == 0:
                record_response(invitation.invitation_id, (n + 5) % 11, None)
        records = stream.read()
        with calls.counting() as counted:
            for start in range(0, len(records), COUNTERS_BATCH):
                counters({"Records": records[start : start + COUNTERS_BATCH]}, LambdaContext())
        figures[f"counters.calls_per_response.{responses}"] = sum(counted.values()) / responses
        with calls.counting() as counted:
            for start in range(0, len(records), FLOW_BATCH):
                flow({"Records": records[start : start + FLOW_BATCH]}, LambdaContext())
        figures[f"response_flow.calls_per_response.{responses}"] = sum(counted.values()) / responses

        # The promoter: one person's click per invitation, and scanners' bursts on half as many more
        now = clock.now()
        wave = make_wave(month="2027-05")
        people = [sent_invitation(wave.wave_id, sent_at=now - timedelta(hours=2)) for _ in range(responses)]
        scanned = [sent_invitation(wave.wave_id, sent_at=now - timedelta(hours=2)) for _ in range(responses // 2)]
        clicked = now - timedelta(hours=1)
        for invitation in people:
            key = f"{clicked.isoformat()}#{new_id()}"
            Click(
                invitation.invitation_id,
                key,
                kind="survey",
                score=9,
                method="GET",
                ua_class="browser",
                promote_shard=promote_shard(invitation.invitation_id),
                promote_at=clicked + timedelta(minutes=30),
            ).save()
        for invitation in scanned:
            for score in range(11):
                at = now - timedelta(hours=2) + timedelta(seconds=2, milliseconds=100 * score)
                Click(
                    invitation.invitation_id,
                    f"{at.isoformat()}#{new_id()}",
                    kind="survey",
                    score=score,
                    method="GET",
                    ua_class="browser",
                    signals={"early"},
                    promote_shard=promote_shard(invitation.invitation_id),
                    promote_at=at + timedelta(minutes=30),
                ).save()
        with calls.counting() as counted:
            answer = promoter({}, LambdaContext())
        judged = responses + responses // 2
        assert answer["decided"] == judged, answer
        assert answer["promoted"] == responses, answer
        figures[f"promoter.calls_per_invitation.{judged}"] = sum(counted.values()) / judged
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=100)
    arguments = parser.parse_args()
    with contextlib.redirect_stdout(io.StringIO()):  # the functions' EMF metrics
        figures = run(arguments.responses)
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()

"""SES events: AWS calls per event handled by ses_events (delivery, permanent bounce, complaint,
an uncertain send settled, an event repeated), and the counters' calls per Invitations stream
record they cause, counted apart (a consumer's work is its own figure, DESIGN Q6).

moto runs in this process (mock_aws) with every resource of template.yaml; N invitations are
written as dispatch_ledger leaves them (plain writes), then each gets the sample event of
events/ses/ about it, handed to the real handler. AWS calls are counted where they arrive,
botocore's BaseClient._make_api_call (PynamoDB's own client included); the stream reads that the
Lambda service makes are not counted. Prints `name: value` lines: measurements, not verdicts.
`--count 100` for a quicker run.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "eu-west-1"
QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
os.environ.update(
    {**QUIET, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}
)
os.environ["AWS_REGION"] = REGION
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

_counts: Counter[str] = Counter()
_phase = threading.local()


@contextmanager
def phase(name: str) -> Iterator[None]:
    previous = getattr(_phase, "name", "setup")
    _phase.name = name
    try:
        yield
    finally:
        _phase.name = previous


def _count_calls() -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        _counts[getattr(_phase, "name", "setup")] += 1
        return original(client, operation, params)

    BaseClient._make_api_call = counting  # type: ignore[method-assign]


def _event(kind: str, invitation_id: str, address: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((ROOT / "events" / "ses" / f"{kind}.json").read_text())
    event = copy.deepcopy(sample)
    mail = event["detail"]["mail"]
    for header in mail["headers"]:
        if header["name"] == "X-Closeloop-Invitation":
            header["value"] = invitation_id
    mail["destination"] = [address]
    return event


def run(count: int) -> dict[str, float]:
    import boto3
    from moto import mock_aws

    from closeloop import clock
    from closeloop.caches import forget_all
    from closeloop.ids import new_id
    from closeloop.models import Invitation, SendBatch, Wave
    from closeloop.models.invitation import SendStep
    from closeloop.secrets import email_hash, hash_key
    from closeloop.services.counters import process_counters_stream
    from closeloop_local.template import Pseudo, Resolver, provision
    from tests.integration.streams import TableStream
    from tests.support import TEMPLATE, LambdaContext, load_handler

    class InProcess:
        region = REGION

        def client(self, service: str) -> Any:
            return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    figures: dict[str, float] = {}
    with mock_aws():
        resolved = provision(
            Resolver(TEMPLATE, parameters={"Stage": "bench"}, pseudo=Pseudo(region=REGION)), InProcess()
        )
        os.environ.update(resolved.globals_environment)
        os.environ.update(resolved.functions["SesEventsFunction"].environment)
        forget_all()
        handler = load_handler("ses_events")
        key = hash_key()
        groups = ("delivery", "bounce", "complaint", "uncertain")
        people: dict[str, list[tuple[str, str]]] = {group: [] for group in groups}
        wave_id = new_id()
        now = clock.now()
        wave = Wave(wave_id, name="Bench", status="sent", month="2027-03", starts_at=now, reminder_at=now)
        wave.closes_at = now
        wave.save()
        for n in range(count * len(groups)):
            group = groups[n % len(groups)]
            address = f"bench{n}@client-{n % 97}.example"
            batch_id = new_id()
            state = "uncertain" if group == "uncertain" else "sent"
            invitation = Invitation(
                f"{n:026d}".replace("0", "a").replace("1", "b").replace("8", "c").replace("9", "d"),
                wave_id=wave_id,
                contact_id=new_id(),
                status=state,
                segment="bench",
                language="fr",
                month="2027-03",
                email_hash=email_hash(address, key),
            )
            invitation.first = SendStep(state=state, attempts=1, batch_id=batch_id)
            invitation.save()
            if group == "uncertain":
                SendBatch(
                    batch_id,
                    wave_id=wave_id,
                    step="first",
                    outcomes={invitation.invitation_id: {"state": "uncertain", "attempt": 1, "error": "redelivered"}},
                ).save()
            people[group].append((invitation.invitation_id, address))
        stream = TableStream(os.environ["INVITATIONS_TABLE"])
        _count_calls()
        kinds = {"delivery": "delivery", "bounce": "bounce", "complaint": "complaint", "uncertain": "delivery"}
        quiet = contextlib.redirect_stdout(io.StringIO())  # the EMF lines of every invocation
        quiet.__enter__()
        for group in groups:
            with phase(group):
                for invitation_id, address in people[group]:
                    handler(_event(kinds[group], invitation_id, address), LambdaContext())
            figures[f"ses_events.calls_per_event.{group}"] = round(_counts[group] / count, 2)
        with phase("repeated"):
            for invitation_id, address in people["delivery"]:
                handler(_event("delivery", invitation_id, address), LambdaContext())
        figures["ses_events.calls_per_event.repeated_delivery"] = round(_counts["repeated"] / count, 2)
        records = stream.read()
        with phase("counters"):
            for begin in range(0, len(records), 100):
                process_counters_stream({"Records": records[begin : begin + 100]}, LambdaContext())
        figures["ses_events.counters_calls_per_record"] = round(_counts["counters"] / max(len(records), 1), 3)
        figures["ses_events.counters_records"] = len(records)
        quiet.__exit__(None, None, None)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=250, help="events of each kind")
    arguments = parser.parse_args()
    for name, value in run(arguments.count).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()

"""Callbacks: AWS calls per unit of work of the functions of issue 6 (cases, mail, SLA timers).

moto runs in this process (moto's in-process mock, with the local runtime's exact numbers) with
every resource of template.yaml. 30 callers; N contacts, a third of them with an account owner;
N responses written by capture's own write. Then, as their mappings would hand them over:
- the Responses stream to `response_flow` in batches of 10 (one case opened per response),
- the Cases stream to `case_flow` in batches of 25 (the assignees' notices queued),
- the mail queue to `mailer` in batches of 10 (the notices sent, at most once each),
- `sla_sweeper` once with nothing due, then once with every case's reminder due,
- one call attempt per case through the cases API (with an Idempotency-Key), and one queue read.

AWS calls are counted where they arrive, botocore's BaseClient._make_api_call (PynamoDB's own
client included), by the function that serves the unit of work. Reading a stream or a queue is
Lambda's work, not counted.

Prints `name: value` lines: measurements, not verdicts. `--responses 50` for a quicker run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from after_response import REGION, Calls, provisioned  # noqa: E402

FLOW_BATCH = 10  # response_flow's BatchSize (template.yaml)
CASE_FLOW_BATCH = 25  # case_flow's
MAILER_BATCH = 10  # mailer's
CALLERS = 30


def run(responses: int) -> dict[str, float]:
    import boto3

    from closeloop import clock
    from closeloop.models import Case
    from closeloop.services.capture import record_response
    from closeloop.settings import get_settings
    from tests.integration.callbacks_support import call
    from tests.integration.case_mail_support import sqs_event
    from tests.integration.cases_support import add_caller, add_contact, invitation_for
    from tests.integration.dispatch import make_wave
    from tests.integration.streams import TableStream
    from tests.support import LambdaContext, load_handler

    figures: dict[str, float] = {}
    # MAIL_QUEUE_URL and the like: the functions' own environment
    with provisioned("MailerFunction", "CaseFlowFunction", "CasesApiFunction"):
        settings = get_settings()
        flow, case_flow = load_handler("response_flow"), load_handler("case_flow")
        mailer, sweeper = load_handler("mailer"), load_handler("sla_sweeper")
        calls = Calls()

        callers = [add_caller(f"caller{n:02d}@orvalis.example", name=f"Caller {n:02d}") for n in range(CALLERS)]
        wave = make_wave()
        responses_stream = TableStream(settings.responses_table, from_start=True)
        cases_stream = TableStream(settings.cases_table, from_start=True)
        for n in range(responses):
            owner = callers[n % CALLERS].email if n % 3 == 0 else None
            contact = add_contact(owner=owner, phone=None if n % 10 == 0 else "+33612345678")
            invitation = invitation_for(wave.wave_id, contact)
            record_response(invitation.invitation_id, n % 11, "Un commentaire." if n % 2 else None)

        # Opening the cases (response_flow: events, assignment, the case)
        records = responses_stream.read()
        with calls.counting() as counted:
            for start in range(0, len(records), FLOW_BATCH):
                flow({"Records": records[start : start + FLOW_BATCH]}, LambdaContext())
        opened = Case.count()
        assert opened == responses, (opened, responses)
        figures[f"cases.open_calls_per_response.{responses}"] = sum(counted.values()) / responses

        # What follows an opening (case_flow: events and mail jobs)
        records = cases_stream.read()
        with calls.counting() as counted:
            for start in range(0, len(records), CASE_FLOW_BATCH):
                case_flow({"Records": records[start : start + CASE_FLOW_BATCH]}, LambdaContext())
        figures[f"case_flow.calls_per_case.{responses}"] = sum(counted.values()) / responses

        # The mail the openings queued (the assignees' notices, the fallbacks of contacts with no phone)
        sqs = boto3.client("sqs", region_name=REGION)
        jobs: list[str] = []
        while batch := sqs.receive_message(QueueUrl=settings.mail_queue_url, MaxNumberOfMessages=10).get("Messages"):
            jobs += [message["Body"] for message in batch]
            for message in batch:
                sqs.delete_message(QueueUrl=settings.mail_queue_url, ReceiptHandle=message["ReceiptHandle"])
        started = time.perf_counter()
        with calls.counting() as counted:
            for start in range(0, len(jobs), MAILER_BATCH):
                mailer(sqs_event(*jobs[start : start + MAILER_BATCH]), LambdaContext())
        elapsed = time.perf_counter() - started
        emails = counted["sesv2.SendEmail"]
        figures[f"mailer.jobs.{responses}"] = len(jobs)
        figures[f"mailer.calls_per_email.{responses}"] = sum(counted.values()) / max(emails, 1)
        for operation, count in sorted(counted.items()):
            figures[f"mailer.calls_per_email.{responses}.{operation}"] = count / max(emails, 1)
        figures[f"mailer.ms_per_email.{responses}"] = 1000 * elapsed / max(emails, 1)

        # The SLA sweeper: an idle run, then a run with every case's reminder due
        with calls.counting() as counted:
            sweeper({}, LambdaContext())
        figures["sla_sweeper.calls_per_idle_run"] = sum(counted.values())
        latest_remind = max(case.next_timer_at for case in Case.scan() if case.next_timer_at)
        clock.set_state(frozen_at=latest_remind + timedelta(minutes=1))
        with calls.counting() as counted:
            answer = sweeper({}, LambdaContext())
        fired = sum(1 for case in Case.scan(Case.last_timer.exists()))
        figures[f"sla_sweeper.steps_fired.{responses}"] = fired
        figures[f"sla_sweeper.calls_per_step.{responses}"] = sum(counted.values()) / max(fired, 1)
        del answer

        # One attempt per case through the API, by its assignee, and one queue read
        by_id = {caller.staff_id: caller for caller in callers}
        cases = list(Case.scan())
        with calls.counting() as counted:
            for n, case in enumerate(cases):
                status, body = call(
                    "POST",
                    f"/cases/{case.case_id}/attempts",
                    {"outcome": "no_answer"},
                    who=by_id[str(case.assignee_id)],
                    headers={"Idempotency-Key": f"bench-{n}"},
                )
                assert status == 201, (status, json.dumps(body))
        figures[f"cases.attempt_calls.{responses}"] = sum(counted.values()) / len(cases)
        for operation, count in sorted(counted.items()):
            figures[f"cases.attempt_calls.{responses}.{operation}"] = count / len(cases)
        with calls.counting() as counted:
            status, body = call("GET", "/cases/mine", who=callers[0])
            assert status == 200, body
        figures["cases.queue_calls"] = sum(counted.values())
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

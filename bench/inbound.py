"""Inbound mail: AWS calls of the inbound function per mail it receives (a reply, an auto-reply, an
unsubscribe by mail, a quarantined mail), and of message_flow per reply; milliseconds per reply.

moto runs in this process with every resource of template.yaml. N contacts each have a sent
invitation with its reply token; each gets one mail of every kind, stored under inbound/ as SES's
S3 action would store it, then handed to the inbound handler as SES's Lambda action would. The
Messages stream is then handed to message_flow in batches of 25, as its mapping would.

AWS calls are counted where they arrive, botocore's BaseClient._make_api_call (PynamoDB's own
client included). Reading the stream is Lambda's work, not counted. The first mail of each kind
is left out (warm containers: the hash key secret is cached).

Prints `name: value` lines: measurements, not verdicts. `--mails 20` for a quicker run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from after_response import REGION, Calls, provisioned  # noqa: E402

FLOW_BATCH = 25  # message_flow's BatchSize (template.yaml)
KINDS = ("reply", "auto_reply", "unsubscribe", "quarantined")


def run(mails: int) -> dict[str, float]:
    import boto3

    from closeloop.ids import new_id
    from closeloop.models import Invitation
    from closeloop.settings import get_settings
    from closeloop.tokens import new_reply_token, reply_address, unsubscribe_address
    from tests.integration.dispatch import make_contact, make_wave
    from tests.integration.inbound_support import mail, receipt_event
    from tests.integration.responses_support import sent_invitation
    from tests.integration.streams import TableStream
    from tests.support import LambdaContext, load_handler

    figures: dict[str, float] = {}
    with provisioned():
        inbound, flow = load_handler("inbound"), load_handler("message_flow")
        s3 = boto3.client("s3", region_name=REGION)
        bucket = get_settings().inbound_bucket
        domain = get_settings().reply_domain
        calls = Calls()

        wave = make_wave()
        threads = []
        for n in range(mails + 1):
            contact = make_contact(f"bench{n}@customers.example")
            invitation: Invitation = sent_invitation(wave.wave_id)
            invitation.update(
                actions=[Invitation.email_hash.set(contact.email_hash), Invitation.contact_id.set(contact.contact_id)]
            )
            threads.append((contact, new_reply_token("invitation", invitation.invitation_id, step="first")))

        def mail_of(kind: str, address: str, token: str) -> tuple[bytes, str]:
            if kind == "reply":
                return mail(
                    address, reply_address(token), "Très bien, merci.\n\nLe 4 janv. 2027, a écrit :\n> Votre avis ?"
                ), reply_address(token)
            if kind == "auto_reply":
                return mail(address, reply_address(token), "Absent.", Auto_Submitted="auto-replied"), reply_address(
                    token
                )
            if kind == "unsubscribe":
                return mail(address, unsubscribe_address(token), "", subject="unsubscribe"), unsubscribe_address(token)
            return mail(address, f"info@{domain}", "Bonjour"), f"info@{domain}"

        stream = TableStream(get_settings().messages_table)
        spent: dict[str, float] = {}
        for kind in KINDS:
            total = 0
            seconds = 0.0
            for n, (contact, token) in enumerate(threads):
                raw, recipient = mail_of(kind, str(contact.email), token)
                message_id = f"bench{new_id().lower()}"
                s3.put_object(Bucket=bucket, Key=f"inbound/{message_id}", Body=raw)
                event = receipt_event(raw, [recipient], message_id=message_id, received_at=wave.starts_at, verdicts={})
                with calls.counting() as counted:
                    started = time.perf_counter()
                    inbound(event, LambdaContext())
                    elapsed = time.perf_counter() - started
                if n:  # the first one warms the container
                    total += sum(counted.values())
                    seconds += elapsed
            figures[f"inbound.calls_per_{kind}.{mails}"] = total / mails
            spent[kind] = seconds
        figures[f"inbound.ms_per_reply.{mails}"] = spent["reply"] * 1000 / mails

        records = stream.read()
        with calls.counting() as counted:
            for start in range(0, len(records), FLOW_BATCH):
                flow({"Records": records[start : start + FLOW_BATCH]}, LambdaContext())
        figures[f"message_flow.calls_per_reply.{mails}"] = sum(counted.values()) / (mails + 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=100)
    arguments = parser.parse_args()
    with contextlib.redirect_stdout(io.StringIO()):  # the functions' EMF metrics
        figures = run(arguments.mails)
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()

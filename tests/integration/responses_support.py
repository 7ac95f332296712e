"""Helpers of the tests of what follows a response: invitations as sending leaves them, the
Responses stream fed to its consumers as Lambda would, a subscriber of the event bus, and
transaction conflicts injected where moto never makes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Invitation, Stat, invitation_id_for
from closeloop.models.invitation import SendStep
from closeloop.rules.nps_counters import NPS_METRIC
from closeloop.settings import get_settings
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_handler

REGION = "eu-west-1"

counters_handler = load_handler("counters")
flow_handler = load_handler("response_flow")
promoter_handler = load_handler("promoter")


def sent_invitation(
    wave_id: str,
    *,
    segment: str = "pharmacy",
    language: str = "fr",
    weight: float = 1,
    month: str = "2027-03",
    sent_at: datetime | None = None,
    delivered_at: datetime | None = None,
    closes_at: datetime | None = None,
) -> Invitation:
    """An invitation whose first email went out, as dispatch_ledger leaves it."""
    sent = sent_at or clock.now()
    invitation = Invitation(
        invitation_id_for(wave_id, new_id()),
        wave_id=wave_id,
        contact_id=new_id(),
        status="sent",
        segment=segment,
        language=language,
        weight=weight,
        month=month,
        first_name="Anne",
        closes_at=closes_at or sent + timedelta(days=21),
        delivered_at=delivered_at,
    )
    invitation.first = SendStep(state="sent", at=sent, attempts=1, batch_id=new_id())
    invitation.save()
    return invitation


def responses_stream(*, from_start: bool = False) -> TableStream:
    return TableStream(get_settings().responses_table, from_start=from_start)


def apply_counters(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The counters function invoked by the Responses mapping with these records."""
    result: dict[str, Any] = counters_handler({"Records": records}, LambdaContext())
    return result


def apply_flow(records: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = flow_handler({"Records": records}, LambdaContext())
    return result


def nps_item(scope: str) -> dict[str, Any]:
    """A Stats `nps` item as a report reads it (numbers as int or float), {} when absent."""
    raw = Stat._get_connection().get_item(scope, range_key=NPS_METRIC, consistent_read=True).get("Item") or {}
    return {name: json.loads(value["N"]) for name, value in raw.items() if "N" in value and name != "expires_at"}


class _Http(AWSResponse):
    def __init__(self, status: int) -> None:
        super().__init__("https://dynamodb.eu-west-1.amazonaws.com/", status, {}, None)


@contextmanager
def cancelled_transactions(client: Any, times: int, code: str = "TransactionConflict") -> Iterator[list[int]]:
    """The next `times` TransactWriteItems of this botocore client are cancelled by DynamoDB with
    `code` on their first item, as a concurrent writer would have them (moto never does); yields
    the list of the sizes of the transactions cancelled."""
    cancelled: list[int] = []

    def cancel(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if len(cancelled) >= times:
            return None
        items = json.loads(params["body"])["TransactItems"]
        cancelled.append(len(items))
        reasons = [{"Code": code if n == 0 else "None"} for n in range(len(items))]
        error = {"Code": "TransactionCanceledException", "Message": f"Transaction cancelled [{code}]"}
        return _Http(400), {"Error": error, "CancellationReasons": reasons, "ResponseMetadata": {}}

    event = "before-call.dynamodb.TransactWriteItems"
    client.meta.events.register_first(event, cancel, unique_id="cancelled-transactions")
    try:
        yield cancelled
    finally:
        client.meta.events.unregister(event, unique_id="cancelled-transactions")


def pynamodb_client() -> Any:
    """The botocore client PynamoDB's models share (the counters write through it)."""
    return Stat._get_connection().connection.client


@contextmanager
def bus_subscriber() -> Iterator[Any]:
    """An SQS queue subscribed to every closeloop event on the bus; yields a function that reads
    the events received so far (their EventBridge envelopes)."""
    name = f"subscriber-{new_id().lower()}"
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = get_settings().event_bus_name
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["closeloop"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    try:
        yield received
    finally:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=bus)

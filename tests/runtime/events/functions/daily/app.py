"""Records each firing of its schedule: the time the event names and the domain time it saw."""

import os
import uuid

import boto3

from closeloop import clock


def lambda_handler(event, context):
    boto3.resource("dynamodb").Table(os.environ["SEEN_TABLE"]).put_item(
        Item={
            "id": uuid.uuid4().hex,
            "kind": event.get("kind", "daily"),
            "scheduled": event["scheduled"],
            "now": clock.now().isoformat(),
        }
    )

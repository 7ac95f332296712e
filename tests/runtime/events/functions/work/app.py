"""Records each message of the work queue with the domain time it saw."""

import json
import os
import uuid

import boto3

from closeloop import clock


def lambda_handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["SEEN_TABLE"])
    for record in event["Records"]:
        scheduled = json.loads(record["body"])["scheduled"]
        table.put_item(
            Item={"id": uuid.uuid4().hex, "kind": "work", "scheduled": scheduled, "now": clock.now().isoformat()}
        )

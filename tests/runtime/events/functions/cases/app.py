"""Records each change of a case; fails on a case marked poison."""

import json
import os
import uuid

import boto3


def lambda_handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["SEEN_TABLE"])
    for record in event["Records"]:
        image = record["dynamodb"].get("NewImage", {})
        table.put_item(
            Item={"id": uuid.uuid4().hex, "kind": "case", "change": record["eventName"], "image": json.dumps(image)}
        )
        if "poison" in image:
            raise RuntimeError(f"cannot process case {image['case_id']['S']}")

"""Records every message it is given; fails on "poison", and reports "flaky" failed on its first try."""

import os
import uuid

import boto3


def lambda_handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["SEEN_TABLE"])
    failures = []
    for record in event["Records"]:
        body = record["body"]
        attempt = record["attributes"]["ApproximateReceiveCount"]
        table.put_item(
            Item={
                "id": uuid.uuid4().hex,
                "kind": "job",
                "body": body,
                "attempt": attempt,
                "batch": len(event["Records"]),
            }
        )
        if body.startswith("poison"):
            raise RuntimeError(f"cannot process {body}")
        if body.startswith("flaky") and attempt == "1":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}

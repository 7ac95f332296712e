"""Records each S3 notification record it gets (the whole record, as JSON)."""

import json
import os
import uuid

import boto3


def lambda_handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["SEEN_TABLE"])
    for record in event["Records"]:
        table.put_item(Item={"id": str(uuid.uuid4()), "record": json.dumps(record)})
    return {"records": len(event["Records"])}

"""Records every event it gets in the Seen table, under the KIND its function was given.

For an SES receipt event, it also records whether the raw message was already in the bucket
(SES stores it before invoking) and its size.
"""

import json
import os
import time
import uuid

import boto3


def lambda_handler(event, context):
    item = {
        "id": str(uuid.uuid4()),
        "kind": os.environ["KIND"],
        "at_ns": time.time_ns(),
        "event": json.dumps(event),
    }
    bucket = os.environ.get("RAW_BUCKET")
    if bucket and isinstance(event, dict) and event.get("Records"):
        key = os.environ.get("RAW_PREFIX", "") + event["Records"][0]["ses"]["mail"]["messageId"]
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        item["stored_size"] = str(len(body))
    boto3.resource("dynamodb").Table(os.environ["SEEN_TABLE"]).put_item(Item=item)
    return {"ok": True}

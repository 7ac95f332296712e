"""Counts itself in, then waits until the number of invocations asked for are all in flight at once."""

import json
import os
import time

import boto3

TABLE = os.environ["COUNTER_TABLE"]
dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    key = {"counter": {"S": event["pathParameters"]["run"]}}
    expected = int(event["queryStringParameters"]["n"])
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="ADD arrived :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    arrived = 0
    while context.get_remaining_time_in_millis() > 2000:
        arrived = int(dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]["arrived"]["N"])
        if arrived >= expected:
            return {"statusCode": 200, "body": json.dumps({"arrived": arrived, "pid": os.getpid()})}
        time.sleep(0.2)
    return {"statusCode": 504, "body": json.dumps({"arrived": arrived})}

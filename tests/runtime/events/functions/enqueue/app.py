"""Puts one message on the work queue per firing, naming the time it was scheduled for."""

import json
import os

import boto3


def lambda_handler(event, context):
    boto3.client("sqs").send_message(
        QueueUrl=os.environ["WORK_QUEUE_URL"], MessageBody=json.dumps({"scheduled": event["scheduled"]})
    )

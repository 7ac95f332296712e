"""Answers with the event it was given, or, on POST /respond, with the answer the request spells out."""

import json


def lambda_handler(event, context):
    if event["routeKey"] == "POST /respond":
        return json.loads(event["body"])
    return {"event": event, "function_name": context.function_name, "request_id": context.aws_request_id}

"""Runs past its one-second timeout unless asked to be quick."""

import os
import time


def lambda_handler(event, context):
    if "quick" not in (event.get("queryStringParameters") or {}):
        time.sleep(5)
    return {"pid": os.getpid()}

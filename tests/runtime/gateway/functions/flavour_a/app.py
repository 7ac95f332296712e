"""Tells what it sees: its module, its environment, its process."""

import os
from pathlib import Path

MODULE_FLAVOUR = "a"


def lambda_handler(event, context):
    return {
        "module": __name__,
        "module_flavour": MODULE_FLAVOUR,
        "environment": dict(os.environ),
        "pid": os.getpid(),
        "cwd": str(Path.cwd()),
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
    }

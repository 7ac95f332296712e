"""Fails, as a function with a bug does."""


def lambda_handler(event, context):
    raise RuntimeError("boom")

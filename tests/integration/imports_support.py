"""Helpers of the import tests: upload a file as the API would have it uploaded, and run the import function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from closeloop.caches import forget_all
from closeloop.models import Contact, ContactEmail
from closeloop.secrets import email_hash
from closeloop.services.imports import start_import
from closeloop.settings import get_settings
from closeloop_local.template import ResolvedTemplate
from tests.support import LambdaContext, load_event, load_handler

MANAGER = "claire.martin@demo.closeloop.example"

_handler: list[Callable[[dict[str, Any], Any], Any]] = []


def import_handler() -> Callable[[dict[str, Any], Any], Any]:
    if not _handler:
        _handler.append(load_handler("contact_import"))
    return _handler[0]


def s3_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    """The sample ObjectCreated event, for this object."""
    event = load_event("s3/object-created.json")
    record = event["Records"][0]
    record["s3"]["bucket"] |= {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    record["s3"]["object"] |= {"key": key, "size": size}
    return event


def as_function(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch, logical_id: str) -> None:
    """This process configured as that function: its own environment variables on top of the globals."""
    for name, value in stack.functions[logical_id].environment.items():
        monkeypatch.setenv(name, value)
    forget_all()


def upload(data: bytes) -> tuple[str, dict[str, Any]]:
    """Start an import, put the file where its upload URL points; the import id and S3's event."""
    started = start_import(MANAGER)
    bucket = get_settings().uploads_bucket
    key = f"imports/{started['import_id']}.csv"
    boto3.client("s3", region_name="eu-west-1").put_object(Bucket=bucket, Key=key, Body=data)
    return started["import_id"], s3_event(bucket, key, len(data))


class ImportContext(LambdaContext):
    """The import function's context: 900 seconds to run, as its template gives it."""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def run(event: dict[str, Any]) -> Any:
    return import_handler()(event, ImportContext(function_name="contact-import"))


def import_file(stack: ResolvedTemplate, data: bytes) -> str:
    """Upload a file and run the import function on S3's notification; the import id."""
    import_id, event = upload(data)
    run(event)
    return import_id


def contact_by_email(email: str) -> Contact | None:
    try:
        lookup = ContactEmail.get(email_hash(email))
    except ContactEmail.DoesNotExist:
        return None
    return Contact.get(lookup.contact_id)

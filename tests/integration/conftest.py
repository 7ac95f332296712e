"""Integration fixtures: moto in-process, with the resources created from template.yaml itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from closeloop.caches import forget_all
from closeloop_local.template import Pseudo, ResolvedTemplate, Resolver, provision
from tests.support import TEMPLATE

REGION = "eu-west-1"


class InProcess:
    """Clients of moto's in-process mock, for the template's creators."""

    region = REGION

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[ResolvedTemplate]:
    """Every resource of template.yaml in moto, and this process configured as a function would be."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with mock_aws():
        resolver = Resolver(TEMPLATE, parameters={"Stage": "test"}, pseudo=Pseudo(region=REGION))
        resolved = provision(resolver, InProcess())
        for name, value in resolved.globals_environment.items():
            monkeypatch.setenv(name, value)
        forget_all()
        yield resolved
        forget_all()

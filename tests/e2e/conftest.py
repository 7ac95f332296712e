"""End-to-end fixtures: the product's own template.yaml run by the local runtime, over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from closeloop_local.runtime import Runtime
from tests.support import TEMPLATE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The whole system as `make run` starts it, demo company included (a stage of its own)."""
    state = tmp_path_factory.mktemp("local-state")
    with Runtime(
        TEMPLATE, port=free_port(), seed=True, state_dir=state, echo_logs=False, parameters={"Stage": "e2e"}
    ) as runtime:
        yield runtime


@pytest.fixture
def http(system: Runtime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.url, timeout=30) as client:
        yield client


def token_for(http: httpx.Client, email: str) -> str:
    response = http.post("/_local/login", json={"email": email})
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token

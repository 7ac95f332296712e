"""A stand-in for the local runtime: the template's functions and resources, clients of moto in
process, and invocations recorded (or handed to a Python function) instead of run in workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from closeloop_local.clock import DomainClock

REGION = "eu-west-3"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Function:
    events: dict[str, dict[str, Any]]
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    functions: dict[str, Function]
    resources: dict[str, Resource]


@dataclass
class Result:
    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    request_id: str = "fake"
    duration_ms: float = 0.0


@dataclass
class Invocation:
    function_id: str
    event: dict[str, Any]
    now: datetime  # what closeloop.clock.now() would answer in the worker


Handler = Callable[[str, dict[str, Any], datetime], Any]


def clock_now(state: dict[str, Any]) -> datetime:
    """What a worker's closeloop.clock.now() answers once given `state`."""
    if state["frozen_at"] is not None:
        return datetime.fromisoformat(state["frozen_at"])
    return datetime.now(UTC) + timedelta(seconds=state["offset_seconds"])


class FakeEventSources:
    """Records each drain with the domain time it happened at."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self._runtime = runtime
        self.drained_at: list[datetime] = []

    def drain(self, timeout: float = 30.0) -> bool:
        self.drained_at.append(self._runtime.clock.now())
        return True


class FakeRuntime:
    """Clients come from moto in process: use it inside mock_aws()."""

    def __init__(
        self,
        functions: dict[str, Function],
        resources: dict[str, Resource] | None = None,
        handler: Handler | None = None,
        start_at: datetime | None = None,
    ) -> None:
        self.template = Template(functions, resources or {})
        self.invocations: list[Invocation] = []
        self.handler = handler
        self.event_sources: Any = FakeEventSources(self)
        self.clock = DomainClock(self, start_at=start_at)  # type: ignore[arg-type]

    def arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"

    def physical_name(self, logical_id: str) -> str:
        return f"local-{logical_id}"

    def client(self, service: str) -> Any:
        # moto in process does not answer the account-based endpoints botocore now picks for streams
        return boto3.client(service, region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))

    def invoke(self, function_id: str, event: dict[str, Any], *, clock_state: dict[str, Any] | None = None) -> Result:
        now = clock_now(clock_state if clock_state is not None else self.clock.state())
        self.invocations.append(Invocation(function_id, event, now))
        if self.handler is None:
            return Result(ok=True)
        try:
            return Result(ok=True, payload=self.handler(function_id, event, now))
        except Exception as exc:  # noqa: BLE001 - a function error, as the worker reports it
            return Result(ok=False, error={"errorMessage": str(exc), "errorType": type(exc).__name__})

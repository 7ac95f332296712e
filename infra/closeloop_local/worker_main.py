"""What runs inside one worker process: a function's environment, its handler, one invocation at a time.

The process is forked from a server that preloaded only modules that read no environment; here
the function's own variables are set first, then its handler module is imported, as on Lambda.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

PRELOAD = [
    "closeloop_local.worker_main",
    "closeloop.clock",
    "boto3",
    "botocore.session",
    "pydantic",
    "jinja2",
    "pynamodb.models",
]
"""Modules a worker may start with: slow to import, and none reads the environment when imported."""


@dataclass(frozen=True)
class WorkerSpec:
    function_name: str
    function_arn: str
    handler: str
    code_uri: str
    environment: dict[str, str]
    memory_size: int


class LambdaContext:
    """The context object Lambda's Python runtime hands to a handler."""

    def __init__(self, spec: WorkerSpec, request_id: str, deadline_ms: int) -> None:
        self.function_name = spec.function_name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = spec.function_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(spec.memory_size))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: str) -> None:
        sys.stdout.write(message)


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_tb(_user_frames(error)),
    }


def _user_frames(error: BaseException) -> TracebackType | None:
    """The traceback from the handler down, without this module's own frame (as Lambda shows it)."""
    frames = error.__traceback__
    return frames.tb_next if frames is not None and frames.tb_next is not None else frames


def _decimal(value: Any) -> Any:
    """Lambda's Python runtime turns Decimals into numbers when it serialises a result."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _set_clock(state: dict[str, Any]) -> None:
    from closeloop import clock

    frozen = state.get("frozen_at")
    clock.set_state(
        offset_seconds=float(state.get("offset_seconds") or 0.0),
        frozen_at=datetime.fromisoformat(frozen) if isinstance(frozen, str) else None,
    )


def _invoke(handler: Any, spec: WorkerSpec, request: dict[str, Any]) -> dict[str, Any]:
    request_id = request["request_id"]
    _set_clock(request["clock"])
    context = LambdaContext(spec, request_id, request["deadline_ms"])
    try:
        result = handler(json.loads(request["event"]), context)
    except Exception as error:
        stack = "".join(traceback.format_exception(type(error), error, _user_frames(error)))
        sys.stderr.write(f"[ERROR] {type(error).__name__}: {error}\n{stack}")
        return {"ok": False, "error": _error(error)}
    try:
        return {"ok": True, "payload": json.dumps(result, default=_decimal)}
    except (TypeError, ValueError) as error:
        return {"ok": False, "error": _error(error, "Runtime.MarshalError")}


class _InitError(Exception):
    """The handler cannot be loaded: Lambda reports it on every invocation until it can."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _load_handler(spec: WorkerSpec) -> Any:
    module_name, _, function_name = spec.handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise _InitError(f"Unable to import module '{module_name}': {error}", "Runtime.ImportModuleError") from error
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _InitError(f"Handler '{function_name}' missing on module '{module_name}'", "Runtime.HandlerNotFound")
    return handler


def run(spec: WorkerSpec, commands: Connection, log: Connection) -> None:
    """The worker's life: take the function's environment, import its handler, serve invocations."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runtime, which stops its workers
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    log.close()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(spec.environment)
    time.tzset()
    os.chdir(spec.code_uri)
    sys.path.insert(0, spec.code_uri)
    try:
        handler = _load_handler(spec)
    except _InitError as error:
        cause = "".join(traceback.format_exception(error.__cause__)) if error.__cause__ else ""
        sys.stderr.write(f"[ERROR] {error.error_type}: {error}\n{cause}")
        commands.send({"ok": False, "error": _error(error, error.error_type)})
        return
    commands.send({"ready": True})
    while True:
        try:
            request = commands.recv()
        except EOFError:  # the runtime is gone
            return
        commands.send(_invoke(handler, spec, request))

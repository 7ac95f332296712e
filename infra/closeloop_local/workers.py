"""Function workers: each function runs in its own processes, started on first use and kept warm.

As on Lambda, one worker serves one invocation at a time; concurrent invocations of a function
start more workers, up to a limit (25, or the function's reserved concurrency). A worker that
runs past the function's timeout is killed and replaced; one that dies is replaced.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from closeloop_local import worker_main
from closeloop_local.logs import LogSink
from closeloop_local.template import FunctionSpec

DEFAULT_MAX_WORKERS = 25
INIT_TIMEOUT = 10.0
"""Seconds a worker may take to import its handler, as Lambda allows its init phase."""

_CONTEXT = multiprocessing.get_context("forkserver")
_start_lock = threading.Lock()


FAKE_SECRET_KEY = "local"  # noqa: S105 - moto accepts any credentials


def access_key_for(logical_id: str) -> str:
    """The fake access key a function signs its AWS calls with: calls can be told apart by function."""
    return f"local-{logical_id}"


@dataclass
class InvocationResult:
    ok: bool
    payload: Any
    error: dict[str, Any] | None
    request_id: str
    duration_ms: float


class _WorkerGone(Exception):
    """The worker process ended while it was serving."""


class _Worker:
    """One worker process and the pipe it takes invocations on."""

    def __init__(self, spec: worker_main.WorkerSpec, logs: LogSink, source: str) -> None:
        commands, child_commands = _CONTEXT.Pipe(duplex=True)
        log_reader, log_writer = _CONTEXT.Pipe(duplex=False)
        self.process = _CONTEXT.Process(
            target=worker_main.run,
            args=(spec, child_commands, log_writer),
            name=f"closeloop-{source}",
            daemon=True,
        )
        with _start_lock:
            self.process.start()
        child_commands.close()
        log_writer.close()
        logs.follow(source, os.dup(log_reader.fileno()))
        log_reader.close()
        self._commands = commands

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next message, or None if none came in time."""
        try:
            if not self._commands.poll(timeout):
                return None
            message: dict[str, Any] = self._commands.recv()
        except (EOFError, OSError) as error:
            raise _WorkerGone from error
        return message

    def send(self, request: dict[str, Any]) -> None:
        try:
            self._commands.send(request)
        except OSError as error:
            raise _WorkerGone from error

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self._commands.close()


def _clock_for_worker(state: Mapping[str, Any]) -> dict[str, Any]:
    frozen = state.get("frozen_at")
    return {
        "offset_seconds": float(state.get("offset_seconds") or 0.0),
        "frozen_at": frozen.isoformat() if isinstance(frozen, datetime) else frozen,
    }


class _FunctionWorkers:
    """The workers of one function: idle ones waiting, and how many may run at once."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], logs: LogSink, limit: int) -> None:
        self.spec = spec
        self.limit = limit
        self._environment = dict(environment)
        self._logs = logs
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._starting = 0
        self._stopped = False
        self._changed = threading.Condition()

    def _new_worker(self) -> _Worker:
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        spec = worker_main.WorkerSpec(
            function_name=self.spec.name,
            function_arn=self.spec.arn,
            handler=self.spec.handler,
            code_uri=str(self.spec.code_uri),
            environment={**self._environment, "AWS_LAMBDA_LOG_STREAM_NAME": stream},
            memory_size=self.spec.memory_size,
        )
        return _Worker(spec, self._logs, self.spec.logical_id)

    def _acquire(self, timeout: float) -> tuple[_Worker, bool] | None:
        """An idle worker, or a new one (True) if the limit allows; None if none frees up in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self._stopped:
                    return None
                if self._idle:
                    return self._idle.pop(), False
                if len(self._workers) + self._starting < self.limit:
                    self._starting += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
        worker: _Worker | None = None
        try:
            worker = self._new_worker()
        finally:
            with self._changed:
                self._starting -= 1
                if worker is not None:
                    self._workers.add(worker)
                self._changed.notify()
        return worker, True

    def _release(self, worker: _Worker, *, healthy: bool) -> None:
        with self._changed:
            keep = healthy and not self._stopped
            if keep:
                self._idle.append(worker)
            else:
                self._workers.discard(worker)
            self._changed.notify()
        if not keep:
            worker.kill()

    def invoke(self, event: Any, clock_state: Mapping[str, Any]) -> InvocationResult:
        request_id = str(uuid.uuid4())
        started = time.monotonic()

        def failed(error_type: str, message: str) -> InvocationResult:
            return finished({"errorType": error_type, "errorMessage": message})

        def finished(error: dict[str, Any] | None, payload: Any = None) -> InvocationResult:
            duration = (time.monotonic() - started) * 1000
            return InvocationResult(error is None, payload, error, request_id, duration)

        try:
            event_json = json.dumps(event)
        except (TypeError, ValueError) as error:
            return failed("InvalidRequestContentException", f"the event is not JSON: {error}")
        acquired = self._acquire(self.spec.timeout)
        if acquired is None:
            return failed("TooManyRequestsException", "Rate Exceeded.")
        worker, fresh = acquired
        healthy = False
        try:
            if fresh:
                ready = worker.receive(max(INIT_TIMEOUT, self.spec.timeout))
                if ready is None:
                    return failed("Runtime.InitError", "the function did not finish its init in time")
                if not ready.get("ready"):
                    return finished(ready["error"])
            worker.send(
                {
                    "request_id": request_id,
                    "event": event_json,
                    "deadline_ms": int(time.time() * 1000) + self.spec.timeout * 1000,
                    "clock": _clock_for_worker(clock_state),
                }
            )
            reply = worker.receive(self.spec.timeout)
            if reply is None:
                message = f"{request_id} Task timed out after {self.spec.timeout:.2f} seconds"
                self._logs.write(self.spec.logical_id, f"{datetime.now(UTC).isoformat()} {message}")
                return failed("Sandbox.Timedout", message)
            healthy = True
            if reply["ok"]:
                return finished(None, json.loads(reply["payload"]))
            return finished(reply["error"])
        except _WorkerGone:
            message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
            self._logs.write(self.spec.logical_id, message)
            return failed("Runtime.ExitError", message)
        finally:
            self._release(worker, healthy=healthy)

    def pids(self) -> list[int]:
        with self._changed:
            return [worker.process.pid for worker in self._workers if worker.process.pid is not None]

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._changed.notify_all()
        for worker in workers:
            worker.kill()


class WorkerPool:
    """The workers of every function of the template."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        *,
        environment: Mapping[str, str],
        logs: LogSink,
        max_per_function: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        # "__main__" too: the program that started the runtime is imported once by the fork
        # server rather than once by every worker (this applies until the fork server starts).
        _CONTEXT.set_forkserver_preload(["__main__", *worker_main.PRELOAD])
        self._functions = {
            logical_id: _FunctionWorkers(
                spec,
                lambda_environment(spec, environment),
                logs,
                min(max_per_function, spec.reserved_concurrency)
                if spec.reserved_concurrency is not None
                else max_per_function,
            )
            for logical_id, spec in functions.items()
        }

    def invoke(self, function_id: str, event: Any, *, clock_state: Mapping[str, Any]) -> InvocationResult:
        workers = self._functions.get(function_id)
        if workers is None:
            raise KeyError(f"no function {function_id} in the template")
        return workers.invoke(event, clock_state)

    def pids(self) -> list[int]:
        """The process ids of the workers alive now."""
        return [pid for workers in self._functions.values() for pid in workers.pids()]

    def stop(self) -> None:
        for workers in self._functions.values():
            workers.stop()


def lambda_environment(spec: FunctionSpec, base: Mapping[str, str]) -> dict[str, str]:
    """A function's variables as Lambda sets them: the template's, then the runtime's and Lambda's own."""
    return {
        **spec.environment,
        **base,
        "AWS_ACCESS_KEY_ID": access_key_for(spec.logical_id),
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        "_HANDLER": spec.handler,
    }

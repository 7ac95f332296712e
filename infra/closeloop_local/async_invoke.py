"""Lambda's asynchronous invocation, as SES receipt rules and EventBridge rules use it.

Work is queued on a thread pool of its own (a sender never waits for the function); a failed
invocation is tried twice more, 1 and 2 seconds later (Lambda waits about 1 and 2 minutes), then
dropped with an error in the log. `settled()` is True once nothing waits or runs: the runtime's
drain waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0)
Invoke = Callable[[str, dict[str, Any]], Any]


class AsyncInvocations:
    """A pool of delivery threads, its count of pending work, and the retries of one invocation."""

    def __init__(self, invoke: Invoke, stopping: threading.Event, *, name: str, threads: int) -> None:
        self.invoke = invoke
        self.stopping = stopping
        self.name = name
        self.threads = threads
        self._pending = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=self.name)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            self._pending = 0

    @property
    def running(self) -> bool:
        return self._pool is not None and not self.stopping.is_set()

    def settled(self) -> bool:
        """No work waits or runs."""
        with self._lock:
            return self._pending == 0

    def submit(self, work: Callable[[], None]) -> bool:
        """Run `work` on a delivery thread (never blocks); False when the runtime is stopping."""
        pool = self._pool
        if pool is None or self.stopping.is_set():
            return False
        with self._lock:
            self._pending += 1
        try:
            pool.submit(self._run, work)
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._pending -= 1
            return False
        return True

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("%s: delivery failed", self.name)
        finally:
            with self._lock:
                self._pending -= 1

    def invoke_with_retries(self, function_id: str, payload: dict[str, Any], what: str) -> bool:
        """Invoke now, then twice more on failure; whether an invocation succeeded."""
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay and self.stopping.wait(delay):
                return False
            result = self.invoke(function_id, payload)
            if result.ok:
                log.info("%s delivered to %s", what, function_id)
                return True
            log.warning("%s failed in %s (attempt %d): %s", what, function_id, attempt + 1, result.error)
        log.error("%s dropped after %d attempts to %s", what, 1 + len(RETRY_DELAYS), function_id)
        return False

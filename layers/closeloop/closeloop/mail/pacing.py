"""Pacing: a token bucket on the monotonic clock, so that senders stay under the SES send rate.

Each sender instance paces at its share, MAX_SEND_RATE / SENDER_CONCURRENCY (the send queue
mapping's MaximumConcurrency), so all of them together never exceed the account's rate. The
bucket runs on real monotonic time, not on the domain clock: SES counts real seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from closeloop.settings import get_settings


class Pacer:
    """Hands out sends at `rate` per second, with at most `burst` in a row after a pause."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = monotonic()

    def wait(self) -> float:
        """Take one send; sleeps until it is due. Returns the seconds slept."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0  # below zero: sends reserved ahead, by callers now sleeping
            delay = max(0.0, -self._tokens / self.rate)
        if delay:
            self._sleep(delay)
        return delay

    def seconds_per_send(self) -> float:
        return 1.0 / self.rate


_instances = threading.local()


def instance_rate() -> float:
    """This instance's share of the account's send rate."""
    settings = get_settings()
    return settings.max_send_rate / max(1, settings.sender_concurrency)


def instance_pacer() -> Pacer:
    """The pacer of this instance. Lambda runs one invocation at a time in a container, so a
    container is a thread here: each thread that sends (a bench's concurrent batches) has its own."""
    rate = instance_rate()
    pacer: Pacer | None = getattr(_instances, "pacer", None)
    if pacer is None or pacer.rate != rate:
        pacer = Pacer(rate)
        _instances.pacer = pacer
    return pacer


def forget() -> None:
    """Forget this thread's pacer (tests changing the rate)."""
    _instances.pacer = None

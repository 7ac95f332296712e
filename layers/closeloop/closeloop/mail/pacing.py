"""Pacing: each sender instance keeps under its share of the SES send rate, counted as SES counts
it, per second of real time.

Each sender instance paces at its share, MAX_SEND_RATE / SENDER_CONCURRENCY (the send queue
mapping's MaximumConcurrency), so all of them together never exceed the account's rate in any
second. The share is kept as a sliding window: at most `floor(share)` sends in any one second. A
fixed gap between sends would waste every pause an instance makes between batches (reading,
rendering, recording); the window lets an instance catch up on them within the second, and never
more (a window is a second and a margin of 20 ms, for the way to SES). When the rate is not a
multiple of the concurrency, the share rounds down (14/s over 2 instances: 7 each; over 5: 2 each,
10/s in all); a share below 1 is one send every 1/share seconds. The window runs on real monotonic
time, not on the domain clock: SES counts real seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from closeloop.settings import get_settings

MARGIN = 0.02
"""Seconds added to each window: a send leaves when the pacer says, and reaches SES a little later
or earlier than its neighbours; without a margin two sends a second apart here may land less than
a second apart there."""


class Pacer:
    """Hands out sends so that no window of `window` seconds holds more than `capacity` of them."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.rate = rate
        self.capacity = max(1, math.floor(rate))
        self.window = (1.0 if rate >= 1 else 1.0 / rate) + MARGIN
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sends: deque[float] = deque()  # the times given out, the last `capacity` of them

    def wait(self) -> float:
        """Take one send; sleeps until it is due. Returns the seconds slept."""
        with self._lock:
            now = self._monotonic()
            due = now
            if len(self._sends) >= self.capacity:
                due = max(now, self._sends[0] + self.window)
                self._sends.popleft()
            self._sends.append(due)  # reserved now: a concurrent caller queues behind it
        delay = due - now
        if delay > 0:
            self._sleep(delay)
        return max(0.0, delay)

    def seconds_per_send(self) -> float:
        return self.window / self.capacity


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

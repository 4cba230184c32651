"""Small pure helpers about time: reconnect backoff, event rates, a rate limit, memory readings."""

from __future__ import annotations

import collections
import os
import random
import resource
import threading
from typing import Optional

__all__ = ["Backoff", "RateMeter", "RateLimit", "resident_memory_bytes", "peak_memory_bytes"]


class Backoff:
    """Exponential backoff with full jitter: attempt n waits a random time in [base, min(cap, base*2**n)]."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: Optional[random.Random] = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self.base + self._rng.random() * max(0.0, ceiling - self.base)

    def reset(self) -> None:
        """Start again from the shortest delay (after a success)."""
        self.attempt = 0


class RateMeter:
    """Events per second over a sliding window, from (time, count) samples."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = threading.Lock()  # the health server reads it from its own thread
        self.total = 0

    def add(self, count: int, now: float) -> None:
        """Record ``count`` events at monotonic time ``now``."""
        with self._lock:
            self.total += count
            self._samples.append((now, count))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.window:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        """Events per second over the last ``window`` seconds."""
        with self._lock:
            self._trim(now)
            return sum(count for _, count in self._samples) / self.window


class RateLimit:
    """At most one batch every ``interval`` seconds: :meth:`delay` says how long to wait first."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: Optional[float] = None

    def delay(self, now: float) -> float:
        """Seconds to wait before a batch may start at ``now``."""
        if self._next is None:
            return 0.0
        return max(0.0, self._next - now)

    def started(self, now: float) -> None:
        """A batch starts at ``now``."""
        self._next = now + self.interval

    def defer(self, until: float) -> None:
        """Nothing may start before ``until`` (a host asked to wait: HTTP 429 ``Retry-After``)."""
        self._next = until if self._next is None else max(self._next, until)


def resident_memory_bytes() -> int:
    """The current resident set size of this process (0 when unknown)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_memory_bytes() -> int:
    """The peak resident set size of this process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

"""Failed authentications, counted per client address and per token key id.

A wrong secret for a stored token costs a scrypt hash (tens of milliseconds and 16 MiB). A
client that keeps failing is refused with 429 ``too_many_failures`` before any hash is
computed, until its budget refills. A key id that keeps failing (wrong secrets from many
addresses) is refused the same way to every client with failures of its own; secrets already
proven good, and clients without a failure, are never held up by someone else's failures.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from receiptd.errors import ClientError

#: Failures a client address, or a key id, may have in a row ...
FAILURE_BURST = 10
#: ... and how fast that budget refills (failures per second).
FAILURES_PER_S = 0.5
#: Addresses and key ids remembered; the least recently failing are forgotten first.
MAX_TRACKED = 4096


class TooManyFailures(ClientError):
    """Too many failed authentications from this client or for this key id; wait."""

    code = "too_many_failures"
    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class AuthBusy(ClientError):
    """Too many stored-token checks are waiting for the hash; retry in a moment."""

    code = "auth_busy"
    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": "1"}


class FailureBudget:
    """A token bucket per key: ``FAILURE_BURST`` failures, refilled at ``FAILURES_PER_S``.
    Thread-safe."""

    def __init__(self, burst: int = FAILURE_BURST, per_s: float = FAILURES_PER_S, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self._burst = float(burst)
        self._per_s = per_s
        self._clock = clock
        self._max = max_tracked
        self._lock = threading.Lock()
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = (
            collections.OrderedDict())

    def _level(self, key: str, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            return self._burst
        tokens, at = held
        return min(self._burst, tokens + (now - at) * self._per_s)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may fail again; 0 when it may now."""
        with self._lock:
            level = self._level(key, self._clock())
        return 0.0 if level >= 1 else (1 - level) / self._per_s

    def clean(self, key: str) -> bool:
        """No failure of ``key`` left to refill."""
        with self._lock:
            return self._level(key, self._clock()) >= self._burst

    def failed(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            level = self._level(key, now)
            self._buckets[key] = (max(0.0, level - 1), now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)

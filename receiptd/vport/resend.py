"""The resend window: a job byte-identical to one accepted on the same port a moment ago is
the app sending it again (after a reconnect, or a timeout of its own), not a new receipt.

Identical means the same bytes after sanitizing (so a process ID, which the app may change on
every attempt, does not count). The price: two genuinely identical receipts within the window
(two identical coffees rung up one after the other, with nothing on them that differs) are
taken for one. That is why the window is short (``resend_window_s``, 10 s) and can be turned
off (0). The second is not lost: it is journaled as a resend, so a cashier can print it.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable


class ResendWindow:
    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()

    @staticmethod
    def key(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def original(self, key: str) -> int | None:
        """The receipt id a job with this key resends, if one was accepted within the window."""
        self._expire()
        hit = self._seen.get(key)
        return hit[0] if hit else None

    def remember(self, key: str, receipt_id: int) -> None:
        """A job was accepted as a new receipt: resends of it are counted from now on."""
        if self.window_s <= 0:
            return
        self._seen[key] = (receipt_id, self._clock())
        self._seen.move_to_end(key)
        self._expire()

    def _expire(self) -> None:
        cutoff = self._clock() - self.window_s
        while self._seen:
            key, (_, at) = next(iter(self._seen.items()))
            if at >= cutoff:
                break
            del self._seen[key]

"""An idle printer's hand-off: its next receipt journaled straight into ``sending``.

A receipt for a printer with nothing to do would otherwise reach paper after two commits: the
submission's, then the spooler's ``sending`` before the first byte. The spooler of an idle,
ready printer with nothing queued opens an ``Offer`` instead. The door journaling the next
receipt for that printer claims it (one claim wins), journals the receipt's print as
``sending`` in the submission's own commit — only if, inside that transaction, nothing else
of that printer is queued or being sent — and hands the receipt over once the commit is on
disk. The spooler sends it without a commit of its own: the first byte follows one fsync
after the submission, and the ``sending`` row is still on disk before it.

Everything else is as if the spooler had started the print itself: a crash between the commit
and the first byte finds it ``sending`` and reprints it marked, as it would have after the
spooler's own commit; a printer that faulted meanwhile gets it back to ``queued`` (nothing was
sent). A claim always ends in ``deliver`` (the receipt, or None when its print was not journaled
``sending``); should the spooler give up waiting for it first, ``deliver`` says so and the
claimer puts the print back in the queue.

Pure coordination between two threads, no I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from receiptd.journal import Receipt

#: How long the spooler waits for a claimed offer's commit (a slow disk's fsync, the
#: reserve's check): past it the claimer requeues the print itself.
CLAIM_WAIT_S = 30.0
#: While waiting for a claim's commit, the spooler beats this often (its watchdog's period
#: is seconds; the wait may be longer).
BEAT_S = 1.0


class Offer:
    """One spooler's offer to take the next receipt straight from the door."""

    def __init__(self, generation: int) -> None:
        self.generation = generation  # the printer connection it was made on
        self._cond = threading.Condition(threading.Lock())
        self._state = "open"  # → claimed → delivered; open | claimed → withdrawn
        self._receipt: Receipt | None = None

    def claim(self) -> bool:
        """The door's question before it journals a receipt: True once, to the first asker,
        while the spooler still offers."""
        with self._cond:
            if self._state != "open":
                return False
            self._state = "claimed"
            return True

    def deliver(self, receipt: Receipt | None) -> bool:
        """After the claimer's commit (or its failure): ``receipt`` if its print was
        journaled ``sending``, else None. False when the spooler stopped waiting: a
        ``sending`` print is then the claimer's to put back in the queue."""
        with self._cond:
            if self._state != "claimed":
                return False
            self._state = "delivered"
            self._receipt = receipt
            self._cond.notify_all()
            return True

    def withdraw(self, timeout: float = CLAIM_WAIT_S,
                 beat: Callable[[], None] = lambda: None) -> Receipt | None:
        """The spooler closes its offer: None at once if nobody claimed it; if somebody did,
        what they deliver (None included), waiting up to ``timeout`` for their commit and
        calling ``beat`` every ``BEAT_S`` meanwhile (the watchdog hears the spooler)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state == "claimed":
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, BEAT_S))
                beat()
            if self._state == "delivered":
                return self._receipt
            self._state = "withdrawn"
            return None

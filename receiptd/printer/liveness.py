"""How the session tells a busy printer from a dead one: by what the printer proves.

A printer proves it is alive by answering: a DLE EOT reply, an ASB block, a process ID, any
byte on the reply stream. A DLE EOT query is answered as soon as it reaches the printer's
receive buffer, but it travels behind the print data written before it: a printer with a full
buffer takes that data only as fast as it prints, and a long receipt at a real print speed
(~3 KB/s of text at 250 mm/s) keeps a query written after it waiting for many seconds.

So the session does not guess how fast a printer takes data. While a print streams, the
spooler lets it put a *progress mark* (a status round, the same four DLE EOT as a poll) between
two commands every few hundred bytes; each reply proves the printer has read the data up to
its mark, and a printer without ASB keeps reporting its status all through a long print. A
printer working through a long receipt then answers every fraction of a second, and the only
data a reply can still be waiting behind is the stretch between two marks (or one command too
long to split, such as a raster band). Silence is ``offline`` when the oldest open question
has gone unanswered for longer than ``offline_after_s`` plus the time that stretch may take on
the link.

The ledger also counts print data written and how much of it a reply has proven read, which
the status confirmation waits on (``wait_taken``), and which says whether data of ours is
still unread in front of our questions (``unread``: a stopped printer's full buffer).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from receiptd import protocol
from receiptd.errors import LinkError, LinkTimeout
from receiptd.links import Link

# The stretch in front of one question is at most a mark interval or one unsplittable command
# (a raster band: up to ~70 KB). A printer whose buffer is full takes raster at a slow 50 mm/s
# at ~22 KB/s; 8 KB/s stays below that and below any USB or LAN link.
PRINT_INTAKE_BYTES_PER_S = 8000.0
# Poll rounds (four DLE EOT each) left unanswered at the end of the data before the session
# stops adding more.
MAX_UNANSWERED = 16
# Questions left unanswered before the session stops adding progress marks (a printer that
# stops answering gets found by the oldest of them; more would only pile up).
MAX_OPEN_QUESTIONS = 256
# A data write that took this long was held back by the link (a full printer buffer, flow
# control): its going through proves the printer read data.
WRITE_WAITED_S = 0.1


def slowest_intake(link: Link) -> float:
    """How slowly this link may carry data and the printer still be alive (for the stretch
    of data in front of a question).

    A serial line cannot carry more than baud/10 bytes a second (8N1); elsewhere the printer's
    own printing is the bottleneck."""
    if link.kind == "serial":
        baud = float(getattr(link, "settings", {}).get("baudrate", 9600))
        return min(baud / 10.0, PRINT_INTAKE_BYTES_PER_S)
    return PRINT_INTAKE_BYTES_PER_S


@dataclass(frozen=True)
class Question:
    n: int  # DLE EOT n
    mark: int  # print data written before it
    asked: float  # monotonic


class Ledger:
    """Print data written, the questions asked behind it, and what the replies proved.

    The session guards ``written`` with its write lock and ``proven`` with its condition; the
    open questions are the session thread's (marks are added under the write lock).
    """

    def __init__(self) -> None:
        self.written = 0  # print-data bytes written so far (any thread)
        self.proven = 0  # the most of ``written`` a status reply has proven read
        self._asked: deque[Question] = deque()  # in the order the printer will answer
        self.taken_at = 0.0  # monotonic: a blocked data write last went through

    def queries(self) -> bytes:
        """A full status round (DLE EOT 1–4), remembered against the data written so far."""
        now = time.monotonic()
        self._asked.extend(Question(n, self.written, now) for n in (1, 2, 3, 4))
        return b"".join(protocol.dle_eot(n) for n in (1, 2, 3, 4))

    @contextlib.contextmanager
    def mark(self) -> Iterator[bytes | None]:
        """A progress mark to write: a status round behind the data written so far (None when
        enough questions are open already). If its write fails before the first byte went
        out, it was never asked."""
        if len(self._asked) >= MAX_OPEN_QUESTIONS:
            yield None
            return
        before = len(self._asked)
        query = self.queries()
        try:
            yield query
        except LinkError as exc:
            if not isinstance(exc, LinkTimeout) or exc.written == 0:
                while len(self._asked) > before:
                    self._asked.pop()
            raise

    def took(self, began: float) -> None:
        """A data write that began at ``began`` (monotonic) went through."""
        now = time.monotonic()
        if now - began >= WRITE_WAITED_S:
            self.taken_at = now

    def answered(self) -> tuple[int, int] | None:
        """The query a DLE EOT reply answers: (n, data written before it); None when nothing
        was asked (``10 04 n`` inside image data makes the printer answer unasked)."""
        if not self._asked:
            return None
        q = self._asked.popleft()
        return q.n, q.mark

    def piling_up(self) -> bool:
        """Too many poll rounds wait at the end of the data: the printer stopped answering."""
        at_end = sum(1 for q in self._asked if q.mark >= self.written)
        return at_end > MAX_UNANSWERED

    def drop_questions(self) -> None:
        """The printer lost what we asked (power loss): its replies will never come."""
        self._asked.clear()

    def settle(self) -> None:
        """A new connection or a printer reset: nothing earlier is owed an answer."""
        self._asked.clear()
        self.proven = self.written

    def unread(self) -> int:
        return max(0, self.written - self.proven)

    def overdue(self, now: float, last_rx: float, offline_after_s: float,
                slowest_bytes_per_s: float, *, stopped: bool = False) -> bool:
        """Has the printer stayed silent longer than what it still has to read explains?
        (``deadline``: the moment it will have.)"""
        due = self.deadline(last_rx, offline_after_s, slowest_bytes_per_s, stopped=stopped)
        return due is not None and now > due

    def deadline(self, last_rx: float, offline_after_s: float, slowest_bytes_per_s: float,
                 *, stopped: bool = False) -> float | None:
        """When silence from now on makes the printer overdue; None: no silence would.

        The oldest open question is owed an answer ``offline_after_s`` after it was asked
        (or after the printer last said anything, if later), plus the time the data between
        the last proven point and its mark may take on the link. Without an open question,
        the silence is measured against all unread data.

        ``stopped``: the printer reported a fault that stops printing. With data of ours
        still unread in front of the questions (its receive buffer is full) they cannot
        reach it until the fault clears: that silence is explained, not overdue."""
        if stopped and self.unread() > 0:
            return None
        since = max(last_rx, self.taken_at)
        ahead = self.unread()
        if self._asked:
            q = self._asked[0]
            since = max(since, q.asked)
            ahead = max(0, q.mark - self.proven)
        return since + offline_after_s + ahead / slowest_bytes_per_s

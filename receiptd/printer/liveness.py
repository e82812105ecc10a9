"""How the session tells a busy printer from a dead one.

Status queries travel behind the print data written before them: a printer still working
through that data cannot answer sooner. So the session counts the print-data bytes it wrote and
remembers, with each DLE EOT query, how many had gone before it; a reply to that query proves
the printer has read all of them. Silence is "offline" only once it lasts longer than the
unread data could take at the slowest rate the printer may take it.
"""

from __future__ import annotations

from collections import deque

from receiptd import protocol
from receiptd.links import Link

# A printer whose buffer is full takes data only as fast as it prints: raster at a slow
# 50 mm/s is ~22 KB/s. 8 KB/s stays below that and below any USB or LAN link.
PRINT_INTAKE_BYTES_PER_S = 8000.0
# Status rounds (four DLE EOT) left unanswered before the session stops adding more.
MAX_UNANSWERED = 16


def slowest_intake(link: Link) -> float:
    """How slowly this printer may take data and still be alive (for silence allowances).

    A serial line cannot carry more than baud/10 bytes a second (8N1); elsewhere the printer's
    own printing is the bottleneck. Using the serial figure everywhere let a LAN printer that
    died under a large image stay "online" for minutes."""
    if link.kind == "serial":
        baud = float(getattr(link, "settings", {}).get("baudrate", 9600))
        return min(baud / 10.0, PRINT_INTAKE_BYTES_PER_S)
    return PRINT_INTAKE_BYTES_PER_S


class Ledger:
    """Print data written, and how much of it a status reply has proven read.

    The session guards ``written`` with its write lock and ``proven`` with its condition; the
    open questions are the session thread's alone.
    """

    def __init__(self) -> None:
        self.written = 0  # print-data bytes written so far (any thread)
        self.proven = 0  # the most of ``written`` a status reply has proven read
        self._asked: deque[tuple[int, int]] = deque()  # (n, written) per DLE EOT n asked

    def queries(self) -> bytes:
        """A full status round (DLE EOT 1–4), remembered against the data written so far."""
        self._asked.extend((n, self.written) for n in (1, 2, 3, 4))
        return b"".join(protocol.dle_eot(n) for n in (1, 2, 3, 4))

    def answered(self) -> tuple[int, int] | None:
        """The query a DLE EOT reply answers: (n, data written before it); None when nothing
        was asked (``10 04 n`` inside image data makes the printer answer unasked)."""
        return self._asked.popleft() if self._asked else None

    def piling_up(self) -> bool:
        return len(self._asked) > MAX_UNANSWERED

    def drop_questions(self) -> None:
        """The printer lost what we asked (power loss): its replies will never come."""
        self._asked.clear()

    def settle(self) -> None:
        """A new connection or a printer reset: nothing earlier is owed an answer."""
        self._asked.clear()
        self.proven = self.written

    def unread(self) -> int:
        return max(0, self.written - self.proven)

    def silence_allowed(self, offline_after_s: float, slowest_bytes_per_s: float) -> float:
        """How long the printer may say nothing and still be alive: a 4 KB receipt on a
        9600-baud line is 4 s of data before any reply can come."""
        return offline_after_s + self.unread() / slowest_bytes_per_s

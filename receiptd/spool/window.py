"""The spooler's send window: prints sent to one printer and still awaiting their process IDs.

PROTOCOL.md: a ``GS ( H`` process ID comes back once everything before it has been printed,
and when several pile up only the newest may come back — so the ID of a print confirms that
print *and every print sent before it*. The window keeps the prints in flight in send order
(which is the order the printer works through its buffer); a reply for the k-th confirms the
first k. Bounds: at most ``max_prints`` prints and ``max_bytes`` bytes unconfirmed, so the data
in flight fits the printer's receive buffer and a buffer clear after a fault still reaches it
promptly. One print always goes, however large, when nothing else is in flight.

Pure bookkeeping, no I/O and no locking: only the spooler's thread uses it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from receiptd.journal import Print


@dataclass(frozen=True)
class InFlight:
    """One print whose bytes are all out, awaiting its process ID."""

    job: Print
    pid: str
    size: int  # bytes sent, process-ID marker included
    paper_mm: float  # estimated paper: the printer needs time for it before the ID comes
    started: float  # monotonic: just before the first byte
    deadline: float  # monotonic: no ID by then and the print is in doubt
    log: Any  # structlog logger with printer, receipt and print bound


class SendWindow:
    def __init__(self, max_prints: int, max_bytes: int) -> None:
        if max_prints < 1 or max_bytes < 1:
            raise ValueError("a send window holds at least one print and one byte")
        self.max_prints = max_prints
        self.max_bytes = max_bytes
        self.generation = -1  # the printer connection every print in flight went out on
        self._flights: deque[InFlight] = deque()

    def __len__(self) -> int:
        return len(self._flights)

    def __iter__(self) -> Iterator[InFlight]:
        return iter(self._flights)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self._flights)

    @property
    def full(self) -> bool:
        return len(self._flights) >= self.max_prints

    def has_room(self, size: int, confirmed: int = 0) -> bool:
        """May a print of ``size`` bytes go out now, once the oldest ``confirmed`` prints
        (whose IDs came back) are out of the window?"""
        left = list(self._flights)[confirmed:]
        if not left:
            return True
        return (len(left) < self.max_prints
                and sum(f.size for f in left) + size <= self.max_bytes)

    def add(self, flight: InFlight, generation: int) -> None:
        if self._flights and generation != self.generation:
            raise ValueError("a print sent on another connection cannot join the window")
        self.generation = generation
        self._flights.append(flight)

    def pids(self) -> list[str]:
        return [f.pid for f in self._flights]

    def oldest(self) -> InFlight:
        return self._flights[0]

    def confirmed_count(self, returned: Collection[str]) -> int:
        """How many prints, from the oldest, the returned IDs confirm: up to the newest one
        whose ID came back."""
        count = 0
        for i, flight in enumerate(self._flights, start=1):
            if flight.pid in returned:
                count = i
        return count

    def pop_oldest(self) -> InFlight:
        """Take the oldest print out (after the journal recorded its outcome)."""
        return self._flights.popleft()

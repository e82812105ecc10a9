"""The ETB counter of a Star printer, kept as proof of what has been printed.

A Star printer in its own command mode cannot hand a process ID back. It has the ETB counter
instead: an ``ETB`` placed after a print's bytes adds one to a 5-bit counter once everything
before it is printed, and the automatic status that follows carries the counter
(``receiptd.protocol.star``). So each ETB the session writes gets an ordinal (1, 2, 3, ... on
this connection), and a status whose counter moved on by ``k`` proves the next ``k`` ETBs, and
everything before them, printed.

The counter wraps at 32, so this holds only while fewer than 32 ETBs are unaccounted for:
``MAX_OPEN`` caps them. Where the counter stood before is unknown on a new connection (another
host, or data of a dead process still in the printer's buffer, may move it), so the session
learns it by a probe: clear the counter (``ESC RS E 0``), ``a`` ETBs, clear it again, ``b``
ETBs, ``a`` and ``b`` drawn at random. Only statuses reading 1, 2, ..., ``a``, then 1, 2, ...,
``b`` in that order count as the probe's: stale ETBs ahead of it in the buffer (a dead
process's prints, even its own probe) move the counter on from where it stood and cannot
fall back to 1 half-way at a place they cannot know, and until the run is seen nothing is
confirmed. A counter that then moves further than the ETBs open
explain (a reset, a power cycle, another host) is a ``Jump``: the session voids what is in
flight and learns the counter afresh.

Written by the session thread (``reported``) and the spooler's (``place``), both under the
board's lock.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field

from receiptd.protocol import star

#: ETBs written and not yet proven printed, at most (the counter wraps at 32).
MAX_OPEN = 24
#: Of those, the ones flow marks may use: prints in flight keep the rest.
FLOW_OPEN = 12
PROBE_MIN = 2
PROBE_MAX = 9


@dataclass(frozen=True)
class Mark:
    ordinal: int
    kind: str  # "print" | "flow"
    key: str  # the print's process ID, or the flow mark's


@dataclass
class Report:
    """What one reported counter value meant."""

    learned: bool = False
    jump: bool = False
    done: list[Mark] = field(default_factory=list)


class EtbTrack:
    def __init__(self) -> None:
        self.learned = False
        self.executed = 0  # ordinal of the newest ETB proven printed
        self.written = 0  # ordinal of the newest ETB written
        self._open: deque[Mark] = deque()
        self._expected: list[int] = []  # the counter values the probe makes, in order
        self._run = 0  # how many of them have been seen, in order

    def probe(self) -> bytes:
        """Start afresh: the bytes that clear the counter and write the probe's ETBs."""
        self.learned = False
        self._open.clear()
        a, b = (PROBE_MIN + secrets.randbelow(PROBE_MAX - PROBE_MIN + 1) for _ in range(2))
        self._expected = [*range(1, a + 1), *range(1, b + 1)]
        self._run = 0
        self.executed = 0
        self.written = b
        clear = star.clear_etb_counter()
        return clear + star.etb() * a + clear + star.etb() * b

    def forget(self) -> None:
        """A new connection or a printer reset: nothing is known until the next probe."""
        self.learned = False
        self._open.clear()
        self._run = 0
        self._expected = []

    def open_count(self, kind: str | None = None) -> int:
        return sum(1 for m in self._open if kind is None or m.kind == kind)

    def place(self, kind: str, key: str) -> Mark | None:
        """An ETB about to be written for ``key``: its mark, or None when there is no room
        (or the counter is not known yet)."""
        if not self.learned or self.written - self.executed >= MAX_OPEN:
            return None
        if kind == "flow" and self.open_count("flow") >= FLOW_OPEN:
            return None
        self.written += 1
        mark = Mark(self.written, kind, key)
        self._open.append(mark)
        return mark

    def unplace(self, mark: Mark) -> None:
        """An ETB whose write failed before it went out."""
        if self._open and self._open[-1] == mark and self.written == mark.ordinal:
            self._open.pop()
            self.written -= 1

    def reported(self, value: int) -> Report:
        """An automatic status showed counter ``value``."""
        if not self.learned:
            return self._learning(value)
        advance = star.etb_advance(self.executed % star.ETB_MODULUS, value)
        if advance == 0:
            return Report()
        if advance > self.written - self.executed:
            return Report(jump=True)
        self.executed += advance
        done = []
        while self._open and self._open[0].ordinal <= self.executed:
            done.append(self._open.popleft())
        return Report(done=done)

    def _learning(self, value: int) -> Report:
        expected, run = self._expected, self._run
        if not expected:
            return Report()
        if run and value == expected[run - 1]:
            return Report()  # the same value again (a status inquiry's answer)
        if value == 0 and expected[run] == 1:
            return Report()  # just cleared: a status inquiry between clear and ETB
        if value == expected[run]:
            self._run = run + 1
        else:
            self._run = 1 if value == 1 else 0
        if self._run == len(expected):
            self.learned = True
            self.executed = expected[-1]
            return Report(learned=True)
        return Report()

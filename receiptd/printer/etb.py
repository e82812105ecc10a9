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
learns it by a probe: clear the counter (``ESC RS E 0``), ``a`` ETBs (drawn at random, 2 to 6),
clear it again, ``PROBE_LAST`` (7) ETBs. The probe is learned when the newest values reported
read 1, 2, ..., ``a``, then 1, 2, ..., 7 (a value repeated, by a status inquiry, counts once;
a 0, a status between a clear and its first ETB, not at all): stale ETBs ahead of it in the
buffer (a dead process's prints) move the counter on from where it stood and cannot fall back
to 1 half-way at a place they cannot know, and until the run is seen nothing is confirmed.

A stale *probe* ahead of ours (a dead process's, or this session's own before a reset, a
silence or a dropped link) can fall back to 1. Its values are matched as the tail of what was
reported, not step by step, so that one sharing a prefix with ours cannot leave the match
half-way and miss ours; and since no probe's first run is as long as the last, a tail ending
in 1..7 ends at the end of a probe: a stale probe is taken for ours only when its first run is
ours too (1 in 5), at its very end. The counter then stands at 7, and whatever our own probe
reports next (0 to 6) is 25 or more ETBs on, more than ``MAX_OPEN`` can explain: a ``Jump``,
and the session probes again. No ETB placed meanwhile can be taken as proven by it.

A counter that then moves further than the ETBs open
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
#: The probe's first run is PROBE_MIN to PROBE_FIRST_MAX ETBs, its last PROBE_LAST: longer than
#: any first run, and short enough that falling back from it to any value of a first run is
#: an advance of more than MAX_OPEN (a stale probe taken for ours is a jump at once).
PROBE_MIN = 2
PROBE_FIRST_MAX = 6
PROBE_LAST = 7


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
        self._seen: deque[int] = deque()  # the newest values reported while learning

    def probe(self, first: int | None = None) -> bytes:
        """Start afresh: the bytes that clear the counter and write the probe's ETBs. The
        first run's length is drawn at random unless ``first`` gives it (tests)."""
        self.learned = False
        self._open.clear()
        a = first or PROBE_MIN + secrets.randbelow(PROBE_FIRST_MAX - PROBE_MIN + 1)
        if not PROBE_MIN <= a <= PROBE_FIRST_MAX:
            raise ValueError(f"a probe's first run is {PROBE_MIN} to {PROBE_FIRST_MAX} ETBs")
        b = PROBE_LAST
        self._expected = [*range(1, a + 1), *range(1, b + 1)]
        self._seen = deque(maxlen=len(self._expected))
        self.executed = 0
        self.written = b
        clear = star.clear_etb_counter()
        return clear + star.etb() * a + clear + star.etb() * b

    def forget(self) -> None:
        """A new connection or a printer reset: nothing is known until the next probe."""
        self.learned = False
        self._open.clear()
        self._seen.clear()
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
        expected, seen = self._expected, self._seen
        if not expected or value == 0:
            return Report()  # 0: just cleared, a status inquiry between clear and ETB
        if seen and seen[-1] == value:
            return Report()  # the same value again (a status inquiry's answer)
        seen.append(value)
        if len(seen) == len(expected) and list(seen) == expected:
            self.learned = True
            self.executed = expected[-1]
            seen.clear()
            return Report(learned=True)
        return Report()

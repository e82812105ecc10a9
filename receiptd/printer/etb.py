"""The ETB counter of a Star printer, kept as proof of what has been printed.

A Star printer in its own command mode cannot hand a process ID back. It has the ETB counter
instead: an ``ETB`` placed after a print's bytes adds one to a 5-bit counter once everything
before it is printed, and the automatic status that follows carries the counter
(``receiptd.protocol.star``). So the session keeps, in order, every step it has asked of the
counter and not yet seen (``ESC RS E 0``: back to 0; an ``ETB``: one on) and the value each
leaves the counter at. A status showing one of those values proves every step up to it, and
everything before them, done: the marks among them (a print's ETB, a flow mark) printed.

**Epochs: the counter never wraps while anything is open.** Every mark's value lies in
``BASE + 1 .. TOP`` (17 to 31), and the run of marks that share one count starts from
``BASE``: after the probe, or after a *rebase*, ``ESC RS E 0`` and ``BASE`` ETBs of the
session's own, written only when nothing before it is unproven (no step open, no print data
since the last ETB). When the marks reach ``TOP``, the next print waits until all are proven
and the counter is rebased. So the values still to come are all different (a status maps to
one step, never two), and a power cycle cannot pass for progress:

* A Star printer says nothing when it powers up; its counter is 0 again. Over TCP and USB the
  link drops, and a long cycle is silence; a short one on a serial line is seen only in the
  counter. Say it lost data of the print behind mark ``M`` (value ``m >= BASE + 1``). What it
  counts afterwards are ETBs written after that lost data: ``M``'s own and the marks after it
  in its run (no rebase can come while ``M`` is open), at most ``TOP - m + 1 <= TOP - BASE``
  (15) ETBs. So it reports 0..15 from then on, never ``m`` or any later mark's value: ``M``
  cannot be proven. And as 0..15 are below ``BASE``, where the counter stands while marks are
  open, the first status after the cycle is a value that no step explains: a ``Jump`` (the
  session voids what is in flight, and learns the counter afresh).
* In the short time between a rebase's write and its first ETB being seen, 0..15 are the
  rebase's own values: a cycle then may go unseen until the prints behind it time out, but it
  still proves none (they need 17 or more).

Where the counter stood before is unknown on a new connection (another host, or data of a
dead process still in the printer's buffer, may move it), so the session learns it by a probe:
clear the counter, ``a`` ETBs (drawn at random, 2 to 6), clear it again, ``PROBE_LAST``
(``BASE``, 16) ETBs. The probe is learned when the newest values reported read 1, 2, ..., ``a``,
then 1, 2, ..., 16 (a value repeated, by a status inquiry, counts once; a 0, a status between
a clear and its first ETB, not at all): stale ETBs ahead of it in the buffer (a dead process's
prints) move the counter on from where it stood and cannot fall back to 1 half-way at a place
they cannot know, and until the run is seen nothing is confirmed.

A stale *probe* ahead of ours (a dead process's, or this session's own before a reset, a
silence or a dropped link) can fall back to 1. Its values are matched as the tail of what was
reported, not step by step, so that one sharing a prefix with ours cannot leave the match
half-way and miss ours; and since no probe's first run is as long as the last, a tail ending
in 1..16 ends at the end of a probe: a stale probe is taken for ours only when its first run is
ours too (1 in 5), at its very end. The counter then stands at 16, and whatever our own probe
reports next (0 to 6) is below it: a ``Jump``, and the session probes again. No ETB placed
meanwhile can be taken as proven by it.

Written by the session thread (``reported``) and the spooler's (``place``, ``rebase``), both
under the board's lock.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field

from receiptd.protocol import star

#: Where the counter stands when a run of marks starts (after the probe or a rebase).
BASE = 16
#: The highest value a mark may take: the counter never wraps while marks are open.
TOP = star.ETB_MODULUS - 1
#: ETBs written and not yet proven printed, at most: one run of marks.
MAX_OPEN = TOP - BASE
#: A flow mark leaves this many values of its run to the print it stands in (its own ETB).
FLOW_KEEPS = 1
#: Nothing open and the counter this far into its run: the next print starts a new run.
REBASE_AT = BASE + MAX_OPEN // 2
#: The probe's first run is PROBE_MIN to PROBE_FIRST_MAX ETBs, its last PROBE_LAST: longer than
#: any first run, and ending at BASE, above every value a first run reports (a stale probe
#: taken for ours is a jump at once).
PROBE_MIN = 2
PROBE_FIRST_MAX = 6
PROBE_LAST = BASE


@dataclass(frozen=True)
class Mark:
    ordinal: int
    kind: str  # "print" | "flow"
    key: str  # the print's process ID, or the flow mark's
    value: int = 0  # the counter once the printer has reached it


@dataclass(frozen=True)
class _Step:
    value: int  # the counter once the printer has done this step
    mark: Mark | None = None  # None: a clear, or an ETB of a rebase


@dataclass
class Report:
    """What one reported counter value meant."""

    learned: bool = False
    jump: bool = False
    done: list[Mark] = field(default_factory=list)


class EtbTrack:
    def __init__(self) -> None:
        self.learned = False
        self.value = 0  # the counter as last proven
        self.executed = 0  # ordinal of the newest mark proven printed
        self.written = 0  # ordinal of the newest mark written
        self._steps: deque[_Step] = deque()  # asked of the counter, not yet seen, in order
        self._expected: list[int] = []  # the counter values the probe makes, in order
        self._seen: deque[int] = deque()  # the newest values reported while learning

    def probe(self, first: int | None = None) -> bytes:
        """Start afresh: the bytes that clear the counter and write the probe's ETBs. The
        first run's length is drawn at random unless ``first`` gives it (tests)."""
        self.forget()
        a = first or PROBE_MIN + secrets.randbelow(PROBE_FIRST_MAX - PROBE_MIN + 1)
        if not PROBE_MIN <= a <= PROBE_FIRST_MAX:
            raise ValueError(f"a probe's first run is {PROBE_MIN} to {PROBE_FIRST_MAX} ETBs")
        b = PROBE_LAST
        self._expected = [*range(1, a + 1), *range(1, b + 1)]
        self._seen = deque(maxlen=len(self._expected))
        clear = star.clear_etb_counter()
        return clear + star.etb() * a + clear + star.etb() * b

    def forget(self) -> None:
        """A new connection or a printer reset: nothing is known until the next probe."""
        self.learned = False
        self._steps.clear()
        self._seen.clear()
        self._expected = []
        self.executed = self.written

    def open_count(self, kind: str | None = None) -> int:
        return sum(1 for s in self._steps
                   if s.mark is not None and (kind is None or s.mark.kind == kind))

    def _next_value(self) -> int:
        return (self._steps[-1].value if self._steps else self.value) + 1

    def room(self, kind: str = "print") -> bool:
        """May a mark of ``kind`` be placed now? Its value must stay within the run (a flow
        mark leaves ``FLOW_KEEPS`` to the print's own ETB) and differ from the counter as it
        stands (after a rebase not yet seen, that is the old run's last value)."""
        if not self.learned:
            return False
        first = self._next_value()
        keep = FLOW_KEEPS if kind == "flow" else 0
        return all(BASE < v <= TOP and v != self.value for v in range(first, first + keep + 1))

    def rebase_due(self) -> bool:
        """Should the counter start a new run before the next print? When nothing is open
        (the caller also makes sure no print data went out since the last ETB) and the run
        is half used or more."""
        return self.learned and not self._steps and self.value >= REBASE_AT

    def rebase(self) -> bytes:
        """The bytes that start a new run: ``ESC RS E 0`` and ``BASE`` ETBs. Only when
        ``rebase_due()``: a clear reached proves nothing before it, so nothing may be open."""
        if not self.learned or self._steps:
            raise RuntimeError("a rebase only when the counter is known and nothing is open")
        self._steps.append(_Step(0))
        self._steps.extend(_Step(v) for v in range(1, BASE + 1))
        return star.clear_etb_counter() + star.etb() * BASE

    def place(self, kind: str, key: str) -> Mark | None:
        """An ETB about to be written for ``key``: its mark, or None when there is no room
        (or the counter is not known yet)."""
        if not self.room(kind):
            return None
        self.written += 1
        mark = Mark(self.written, kind, key, self._next_value())
        self._steps.append(_Step(mark.value, mark))
        return mark

    def unplace(self, mark: Mark) -> None:
        """An ETB whose write failed before it went out."""
        if self._steps and self._steps[-1].mark == mark and self.written == mark.ordinal:
            self._steps.pop()
            self.written -= 1

    def reported(self, value: int) -> Report:
        """An automatic status showed counter ``value``."""
        if not self.learned:
            return self._learning(value)
        if value == self.value:
            return Report()
        at = next((i for i, s in enumerate(self._steps) if s.value == value), None)
        if at is None:
            return Report(jump=True)  # no step of ours leaves the counter there
        done = []
        for _ in range(at + 1):
            step = self._steps.popleft()
            if step.mark is not None:
                done.append(step.mark)
                self.executed = step.mark.ordinal
        self.value = value
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
            self.value = expected[-1]
            self.executed = self.written
            seen.clear()
            return Report(learned=True)
        return Report()

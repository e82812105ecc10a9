"""printer.etb: a Star printer that loses power for a moment on a serial line (no power-on
notice, no reconnect: only its ETB counter, back at 0, tells) can never make a lost print
read as printed.

A small model of the printer runs the session's bytes in order (print data, ``ESC RS E 0``,
``ETB``) against the real ``EtbTrack``, with a host that behaves as the session and the
spooler do (``wait_room`` before each piece, a flow mark between pieces, the print's ETB
after its last byte). A power cycle loses what the printer holds in its buffer and zeroes the
counter; bytes still on the line arrive afterwards. Every counter value the printer reports
is fed to the track, and a print it proves must have come out whole. Thousands of runs with
fixed seeds: the same every time.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

import pytest

from receiptd.printer.etb import BASE, MAX_OPEN, TOP, EtbTrack
from receiptd.protocol import star


@dataclass
class Printer:
    """Star's counter as [LM] 5.2.3 / [SP] "ETB" describe it, and a receive buffer."""

    counter: int = 0
    buffer: list[tuple[str, str]] = field(default_factory=list)  # (op, print)
    printed: dict[str, int] = field(default_factory=dict)  # print -> pieces printed
    lost: set[str] = field(default_factory=set)  # prints with a piece lost

    def step(self) -> int | None:
        """Do the oldest command; the counter when an ETB was reached."""
        op, key = self.buffer.pop(0)
        if op == "data":
            self.printed[key] = self.printed.get(key, 0) + 1
        elif op == "clear":
            self.counter = 0
        else:
            self.counter = (self.counter + 1) % star.ETB_MODULUS
            return self.counter
        return None

    def power_cycle(self, held: int) -> None:
        """The first ``held`` commands were in the printer and are lost; the rest were still
        on the line."""
        for op, key in self.buffer[:held]:
            if op == "data":
                self.lost.add(key)
        del self.buffer[:held]
        self.counter = 0


class Host:
    """The session and the spooler, as far as the ETB counter goes."""

    def __init__(self, rng: random.Random, printer: Printer) -> None:
        self.rng = rng
        self.printer = printer
        self.track = EtbTrack()
        self.unmarked = False  # print data written since the newest ETB
        self.pieces: dict[str, int] = {}
        self.jumps = 0
        self.proven: list[str] = []
        self.n = 0
        self.write_probe()

    def write(self, op: str, key: str = "") -> None:
        self.printer.buffer.append((op, key))

    def write_bytes(self, data: bytes) -> None:
        for b in data:
            if b == star.ETB:
                self.write("etb")
            elif b == 0x45:  # the E of ESC RS E 0
                self.write("clear")

    def write_probe(self) -> None:
        self.write_bytes(self.track.probe())
        self.unmarked = False

    def report(self, value: int) -> None:
        r = self.track.reported(value)
        for mark in r.done:
            if mark.kind == "print":
                self.proven.append(mark.key)
                assert mark.key not in self.printer.lost, f"lost print {mark.key} proven"
                assert self.printer.printed.get(mark.key, 0) == self.pieces[mark.key], mark
        if r.jump:
            self.jumps += 1
            self.write_probe()  # in flight is void; learn again

    def print_one(self) -> bool:
        """One print, as the spooler sends it; False when the counter has no room yet."""
        t = self.track
        if not t.learned:
            return False
        if not (t.room("print") or t.rebase_due()):
            return False
        if t.rebase_due() and not self.unmarked:
            self.write_bytes(t.rebase())
        if not t.room("print"):
            return False
        self.n += 1
        key = f"P{self.n}"
        self.pieces[key] = self.rng.randint(1, 3)
        for i in range(self.pieces[key]):
            self.write("data", key)
            self.unmarked = True
            if i < self.pieces[key] - 1 and self.rng.random() < 0.5:
                mark = t.place("flow", f"{self.n:03d} ")
                if mark is not None:
                    assert BASE < mark.value <= TOP
                    self.write("etb")
                    self.unmarked = False
        mark = t.place("print", key)
        assert mark is not None, "the print's own ETB always finds room"
        assert BASE < mark.value <= TOP
        self.write("etb")
        self.unmarked = False
        return True


def run(seed: int, *, asb: float, polls: float = 0.15) -> Host:
    rng = random.Random(seed)
    printer = Printer()
    host = Host(rng, printer)
    for _ in range(400):
        action = rng.random()
        if action < 0.35:
            host.print_one()
        elif action < 0.95 - polls and printer.buffer:
            for _ in range(rng.randint(1, 4)):
                if not printer.buffer:
                    break
                value = printer.step()
                # The automatic status the ETB sends (the probe's are all seen: ASB is on
                # from the handshake, and a probe not seen whole is not learned).
                if value is not None and (not host.track.learned or rng.random() < asb):
                    host.report(value)
        elif action < 0.95:
            host.report(printer.counter)  # ESC ACK SOH, answered at once
        else:
            printer.power_cycle(rng.randint(0, len(printer.buffer)))
            printer.lost.difference_update(host.proven)  # proven before: printed then
    return host


@pytest.mark.parametrize("polls", [0.15, 0.01], ids=["polls", "few-polls"])
@pytest.mark.parametrize("asb", [1.0, 0.5, 0.0], ids=["asb", "some-asb", "no-asb"])
def test_a_short_power_cycle_never_proves_a_lost_print(asb: float, polls: float) -> None:
    proven = jumps = lost = 0
    for seed in range(400):
        host = run(seed, asb=asb, polls=polls)
        proven += len(host.proven)
        jumps += host.jumps
        lost += len(host.printer.lost)
    # The runs did print, did lose prints to power cycles, and saw the counter jump.
    assert proven > 500 and lost > 200 and jumps > 200, (proven, lost, jumps)


def test_the_counter_of_an_open_mark_never_reaches_the_wrap() -> None:
    track = EtbTrack()
    for value in (*range(1, 3), *range(1, BASE + 1)):
        track.reported(value)
    track.probe(2)
    for value in (*range(1, 3), *range(1, BASE + 1)):
        report = track.reported(value)
    assert report.learned and track.value == BASE
    marks = []
    while track.room("print"):
        mark = track.place("print", f"P{len(marks)}")
        assert mark is not None
        marks.append(mark)
    assert [m.value for m in marks] == list(range(BASE + 1, TOP + 1))
    assert len(marks) == MAX_OPEN
    assert not track.rebase_due()  # not while any is open
    # Every value a printer that restarted can report before reaching our marks again is
    # below BASE: none of them is a step of ours.
    for value in range(BASE):
        assert copy.deepcopy(track).reported(value).jump
    assert track.reported(TOP).done == marks
    assert track.rebase_due()
    data = track.rebase()
    assert data == star.clear_etb_counter() + star.etb() * BASE
    mark = track.place("print", "NEXT")
    assert mark is not None and mark.value == BASE + 1
    # Until the printer is seen past the clear, the old value stays out of reach.
    assert track.reported(0).done == []
    assert track.reported(BASE + 1).done == [mark]

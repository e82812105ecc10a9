"""What happens to the printer from outside: faults, an operator's fixes, power, armed triggers.

``inject`` makes a fault (or an action such as a power cycle) happen now; ``clear`` ends one as
an operator would (load paper, close the cover); ``arm`` makes one happen later, after N more
bytes, N more millimetres of paper or at the next cut. The model checks the triggers as bytes
arrive and before each command prints; the timers end a power cycle and an overheat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from receiptd.emulator.commands import Command
from receiptd.emulator.config import EmulatorError, PrinterConfig
from receiptd.emulator.interpreter import Interpreter
from receiptd.emulator.paper import Paper
from receiptd.emulator.receive import ReceiveBuffer
from receiptd.emulator.status import ACTIONS, FAULT_NAMES, STOPPING, Fault, PrinterStatus
from receiptd.emulator.transcript import Transcript

TRIGGER_KINDS = ("after_bytes", "after_mm", "on_cut")


@dataclass
class Trigger:
    fault: str
    kind: str  # after_bytes | after_mm | on_cut
    at: float  # absolute byte count or printed mm; unused for on_cut
    kwargs: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"fault": self.fault, "kind": self.kind, "at": self.at, **self.kwargs}


class FaultControl:
    def __init__(self, config: PrinterConfig, transcript: Transcript, status: PrinterStatus,
                 paper: Paper, buffer: ReceiveBuffer, interpreter: Interpreter) -> None:
        self.config = config
        self.transcript = transcript
        self.status = status
        self.paper = paper
        self.buffer = buffer
        self.interpreter = interpreter
        self.triggers: list[Trigger] = []
        self.overheat_until: float | None = None
        self.power_on_at: float | None = None
        self.power_epoch = 0  # bumped at each power loss: transports drop their host then
        self.link_epoch = 0  # bumped by ``disconnect``: the TCP transport resets its host
        self.slow_bytes_per_s: float | None = None
        self.slow_mm_s: float | None = None

    # -- now ---------------------------------------------------------------------------------

    def inject(self, fault: str, now: float, **kw: Any) -> None:
        """Make something happen to the printer (see README for names and arguments)."""
        after = [k for k in TRIGGER_KINDS if k in kw]
        if after:
            if fault == "paper_out" and after == ["after_mm"]:
                self.arm(fault, **kw)
                return
            raise EmulatorError(f"use 'arm {fault} {after[0]}=...' to delay a fault")
        if fault == "power_cycle":
            self._power_off(now, float(kw.get("off_s", self.config.power_off_s)))
        elif fault == "slow":
            self.slow_bytes_per_s = _opt_float(kw.get("bytes_per_s"))
            self.slow_mm_s = _opt_float(kw.get("mm_per_s"))
            self.transcript.event("slow", bytes_per_s=self.slow_bytes_per_s,
                                  mm_per_s=self.slow_mm_s)
        elif fault == "garbage":
            data = kw.get("data", b"")
            if "hex" in kw:
                data = bytes.fromhex(str(kw["hex"]))
            if not isinstance(data, bytes) or not data:
                raise EmulatorError("garbage needs data=<bytes> or hex=<hex digits>")
            self.status.send(data)
            self.transcript.event("garbage", hex=data.hex(" "))
        elif fault == "feed_button":
            self.transcript.event("feed_button")
        elif fault == "disconnect":
            # A cable pull / network blip: the connection goes, the printer keeps its buffer
            # and goes on printing what it already has (replies queued for that host are lost).
            self.link_epoch += 1
            self.status.out.clear()
            self.transcript.event("disconnect")
        elif fault in FAULT_NAMES:
            f = Fault(fault)
            if f is Fault.OVERHEAT:
                self.overheat_until = now + float(kw.get("duration_s", self.config.overheat_s))
            self.set_fault(f, now)
        else:
            raise EmulatorError(f"unknown fault {fault!r}")

    def clear(self, fault: str, now: float) -> bool:
        """End a fault the way an operator would (load paper, close the cover, ...).

        True when it was a fault, so printing may resume; False for ``slow``."""
        if fault == "slow":
            self.slow_bytes_per_s = self.slow_mm_s = None
            self.transcript.event("fast")
            return False
        if fault not in FAULT_NAMES:
            raise EmulatorError(f"unknown fault {fault!r}")
        f = Fault(fault)
        if f is Fault.UNRECOVERABLE:
            raise EmulatorError("an unrecoverable error only clears with power_cycle")
        if f is Fault.PAPER_OUT:
            # A new roll: no longer near its end either, and what follows is a new slip.
            if f in self.status.faults:
                self.transcript.new_slip()
            self.clear_fault(Fault.NEAR_END, now, why="operator")
            self.triggers = [t for t in self.triggers
                             if not (t.fault == "paper_out" and t.kind == "after_mm")]
        self.clear_fault(f, now, why="operator")
        return True

    def set_fault(self, fault: Fault, now: float) -> None:
        if self.status.raise_fault(fault) and fault in STOPPING:
            self.paper.head = now

    def clear_fault(self, fault: Fault, now: float, why: str) -> None:
        if not self.status.lower_fault(fault, why):
            return
        if fault is Fault.OVERHEAT:
            self.overheat_until = None
        self.paper.head = max(self.paper.head, now)

    def timers(self, now: float) -> None:
        """The power comes back, the head cools down."""
        if self.power_on_at is not None and now >= self.power_on_at:
            self._power_on(now)
        if self.overheat_until is not None and now >= self.overheat_until:
            self.clear_fault(Fault.OVERHEAT, now, why="cooled")

    def _power_off(self, now: float, off_s: float) -> None:
        """Lose the receive buffer, print modes, ASB setting and errors (not paper out or an
        open cover); the power comes back after ``off_s``."""
        self.transcript.event("power_off")
        self.buffer.clear()
        self.interpreter.clear_line()
        self.interpreter.reset()
        self.status.power_off()
        self.overheat_until = None
        self.power_epoch += 1
        self.power_on_at = now + off_s
        if off_s <= 0:
            self._power_on(now)

    def _power_on(self, now: float) -> None:
        self.power_on_at = None
        self.paper.power_on(now)
        self.status.power_on()

    # -- later -------------------------------------------------------------------------------

    def arm(self, fault: str, **kw: Any) -> Trigger:
        """Inject ``fault`` later: ``after_bytes=N`` more bytes, ``after_mm=N`` more paper, or
        ``on_cut=1`` when the next cut is reached (before it is done)."""
        if fault not in FAULT_NAMES and fault not in ACTIONS:
            raise EmulatorError(f"unknown fault {fault!r}")
        kinds = [k for k in TRIGGER_KINDS if k in kw]
        if len(kinds) != 1:
            raise EmulatorError("arm needs exactly one of after_bytes=N, after_mm=N, on_cut")
        kind = kinds[0]
        value = kw.pop(kind)
        if kind == "after_bytes":
            at = float(self.buffer.received + int(value))
        elif kind == "after_mm":
            at = self.paper.printed_mm + float(value)
        else:
            at = 0.0
        trigger = Trigger(fault, kind, at, dict(kw))
        self.triggers.append(trigger)
        return trigger

    def disarm(self, fault: str | None = None) -> int:
        before = len(self.triggers)
        self.triggers = [t for t in self.triggers if fault is not None and t.fault != fault]
        return before - len(self.triggers)

    def next_byte_trigger(self) -> float | None:
        """The byte count at which the next ``after_bytes`` trigger fires."""
        due = [t.at for t in self.triggers if t.kind == "after_bytes"]
        return min(due) if due else None

    def fire_byte_triggers(self, now: float) -> None:
        for t in [t for t in self.triggers if t.kind == "after_bytes"]:
            if self.buffer.received >= t.at:
                self._fire(t, now)

    def fire_print_triggers(self, cmd: Command, mm: float, now: float) -> bool:
        """Fire what printing ``cmd`` (``mm`` of paper) would cross; True if any fired."""
        fired = False
        for t in list(self.triggers):
            crossed = (t.kind == "after_mm" and mm > 0
                       and self.paper.printed_mm + mm > t.at + 1e-9)
            if crossed or (t.kind == "on_cut" and self.interpreter.cuts(cmd)):
                self._fire(t, now)
                fired = True
        return fired

    def _fire(self, trigger: Trigger, now: float) -> None:
        self.triggers.remove(trigger)
        if trigger.fault == "paper_out" and trigger.kind == "after_mm":
            self.set_fault(Fault.PAPER_OUT, now)
            return
        self.inject(trigger.fault, now, **trigger.kwargs)


def _opt_float(value: Any) -> float | None:
    return None if value in (None, "", 0, "0") else float(value)

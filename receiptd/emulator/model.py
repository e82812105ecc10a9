"""The printer itself: a pure model with no I/O and no threads; time is passed in.

Life of a byte: ``feed()`` puts it in the receive buffer (or refuses it when the buffer is full,
which is what makes the transport stop reading) and shows it to the real-time scanner, which runs
``DLE EOT``/``DLE ENQ``/``DLE DC4`` on arrival, wherever they appear. ``advance(now)`` lets the
interpreter take commands from the head of the buffer and "print" them: each command that moves
paper takes ``mm / speed`` seconds and is recorded in the transcript when it has finished. A fault
that stops printing leaves the current command where it is; it runs when the fault clears.

``PrinterModel`` ties the parts together: ``receive`` (buffer and byte rate), ``status`` (faults,
status bits, replies), ``interpreter`` (commands), ``paper`` (lengths, timing, counters) and
``faults`` (injection, operator fixes, power, armed triggers).
"""

from __future__ import annotations

import math
import time
from typing import Any

from receiptd.emulator.charsets import DBCS_CODECS
from receiptd.emulator.config import EmulatorError, Identity, PrinterConfig
from receiptd.emulator.faults import TRIGGER_KINDS, FaultControl, Trigger
from receiptd.emulator.interpreter import Interpreter
from receiptd.emulator.mode import PrintMode
from receiptd.emulator.paper import CUT_FEED_MM, DOTS_PER_MM, Counters, Paper
from receiptd.emulator.realtime import realtime_length
from receiptd.emulator.receive import RateLimiter, ReceiveBuffer
from receiptd.emulator.status import (
    ACTIONS,
    BUFFER_CLEARED,
    ERRORS,
    EVENT_OFF,
    EVENT_ON,
    FAULT_NAMES,
    POWER_ON_NOTICE,
    RECOVERABLE,
    STOPPING,
    Fault,
    PrinterStatus,
)
from receiptd.emulator.transcript import Transcript

# Names that lived in this module before it was split; importers of them keep working.
__all__ = [
    "ACTIONS", "BUFFER_CLEARED", "CUT_FEED_MM", "DOTS_PER_MM", "ERRORS", "EVENT_OFF", "EVENT_ON",
    "FAULT_NAMES", "POWER_ON_NOTICE", "RECOVERABLE", "STOPPING", "TRIGGER_KINDS", "Counters",
    "EmulatorError", "Fault", "Identity", "PrintMode", "PrinterConfig", "PrinterModel", "Trigger",
]


class PrinterModel:
    def __init__(self, config: PrinterConfig | None = None, now: float | None = None) -> None:
        self.config = config or PrinterConfig()
        if self.config.cjk not in DBCS_CODECS:
            raise EmulatorError(f"cjk={self.config.cjk!r}: use one of {sorted(DBCS_CODECS)}")
        t = time.monotonic() if now is None else now
        self.transcript = Transcript(self.config.columns)
        self.status = PrinterStatus(self.transcript)
        self.paper = Paper(t)
        self.buffer = ReceiveBuffer(self.config.buffer_size, self.transcript)
        self.interpreter = Interpreter(self.config, self.transcript, self.paper, self.status)
        self.fault_control = FaultControl(self.config, self.transcript, self.status, self.paper,
                                           self.buffer, self.interpreter)
        self.link_bytes_per_s = self.config.bytes_per_s  # the serial line's baud / 10
        self._rate = RateLimiter(t)

    # == the state, by its old names ===========================================================

    @property
    def faults(self) -> set[Fault]:
        return self.status.faults

    @property
    def powered(self) -> bool:
        return self.status.powered

    @property
    def offline(self) -> bool:
        return self.status.offline

    @property
    def asb_mask(self) -> int:
        return self.status.asb_mask

    @property
    def offline_response(self) -> int:
        """GS ( H fn 49: 0 off, 1 on without the offline cause, 2 on with it."""
        return self.status.offline_response

    @property
    def rx(self) -> bytearray:
        return self.buffer.data

    @property
    def bytes_received(self) -> int:
        return self.buffer.received

    @property
    def printed_mm(self) -> float:
        return self.paper.printed_mm

    @property
    def counters(self) -> Counters:
        return self.paper.counters

    @property
    def cumulative(self) -> Counters:
        return self.paper.cumulative

    @property
    def triggers(self) -> list[Trigger]:
        return self.fault_control.triggers

    @property
    def power_epoch(self) -> int:
        return self.fault_control.power_epoch

    @property
    def link_epoch(self) -> int:
        return self.fault_control.link_epoch

    @property
    def slow_bytes_per_s(self) -> float | None:
        return self.fault_control.slow_bytes_per_s

    @property
    def slow_mm_s(self) -> float | None:
        return self.fault_control.slow_mm_s

    def realtime_status(self, n: int) -> int:
        """The DLE EOT n reply: pattern 0xx1xx10."""
        return self.status.realtime_status(n)

    def asb_bytes(self) -> bytes:
        return self.status.asb_bytes()

    def counter(self, n: int) -> int | None:
        """GS g 2 counter n: 20 feed lines, 21 head energizing, 50 cuts, 70 hours; +128 total."""
        return self.paper.counter(n)

    # == the host side =========================================================================

    @property
    def speed(self) -> float:
        return self.slow_mm_s or self.config.speed_mm_s

    @property
    def byte_rate(self) -> float | None:
        rates = [r for r in (self.link_bytes_per_s, self.slow_bytes_per_s) if r]
        return min(rates) if rates else None

    @property
    def reading(self) -> bool:
        """Whether the printer takes bytes from the host at all (not off, not hung)."""
        return self.status.reading

    @property
    def buffer_free(self) -> int:
        return self.buffer.free

    def feed(self, data: bytes, now: float) -> int:
        """Receive bytes from the host; returns how many were taken (fewer when full)."""
        self.advance(now)
        if not self.reading or not data:
            return 0
        buf, control = self.buffer, self.fault_control
        allowed = self._rate.allowance(self.byte_rate, now)
        taken = 0
        while taken < len(data) and taken < allowed and self.reading:
            space = buf.free
            if space == 0:
                # A full buffer still executes a real-time command (Epson: "even when the
                # receive buffer is full"); anything else waits in the host's send queue.
                k = self._realtime_length(data[taken:])
                if k == 0 or taken + k > allowed:
                    break
                buf.scanner.reset()
                self._realtime(bytes(data[taken : taken + k]), now)
                taken += k
                buf.received += k
                control.fire_byte_triggers(now)
                continue
            limit = min(len(data), taken + space)
            if allowed != math.inf:
                limit = min(limit, int(allowed))
            due = control.next_byte_trigger()
            if due is not None:
                limit = min(limit, max(taken + 1, int(due) - buf.received + taken))
            chunk = data[taken:limit]
            buf.receive(chunk, lambda seq: self._realtime(seq, now))
            taken = limit
            buf.received += len(chunk)
            control.fire_byte_triggers(now)
        if self.byte_rate:
            self._rate.spend(taken)
        self.advance(now)
        return taken

    def take_output(self) -> bytes:
        """Reply bytes for the host (nothing while hung or off)."""
        return self.status.take()

    def host_connected(self) -> None:
        """A new host connection (TCP): replies queued for the previous one are not sent."""
        self.status.host_connected()

    # == real-time commands (on arrival) =======================================================

    def _realtime_length(self, data: bytes | bytearray) -> int:
        """Length of a real-time command at the head of bytes a full buffer cannot take."""
        return realtime_length(data)

    def _realtime(self, seq: bytes, now: float) -> None:
        fn, status = seq[1], self.status
        if fn == 0x04:
            status.send(bytes([status.realtime_status(seq[2])]))
        elif fn == 0x05:
            self._dle_enq(seq[2], now)
        elif seq[2] == 0x08:
            self._clear_buffers()
            status.send(BUFFER_CLEARED)
            self.transcript.event("buffer_cleared")
        elif seq[2] == 0x07:
            if seq[3] == 1:
                status.send(status.asb_bytes())
            elif seq[3] == 4:
                status.send(status.offline_block())
        elif seq[2] == 0x01:
            self.transcript.add({"type": "drawer", "pin": 2 if seq[3] == 0 else 5})
        # DLE DC4 2 (power off) is deliberately ignored.

    def _dle_enq(self, n: int, now: float) -> None:
        present = self.status.faults & RECOVERABLE
        if not present or n == 0:
            return  # ignored for auto-recoverable errors and when nothing needs recovering
        if n == 2:
            self._clear_buffers()
            self.transcript.event("buffer_cleared")
        for fault in sorted(present):
            self.fault_control.clear_fault(fault, now, why="dle_enq")

    def _clear_buffers(self) -> None:
        self.buffer.clear()
        self.interpreter.clear_line()

    # == faults ================================================================================

    def inject(self, fault: str, now: float, **kw: Any) -> None:
        """Make something happen to the printer (see README for names and arguments)."""
        self.fault_control.inject(fault, now, **kw)
        self.advance(now)

    def clear(self, fault: str, now: float) -> None:
        """End a fault the way an operator would (load paper, close the cover, ...)."""
        if self.fault_control.clear(fault, now):
            self.advance(now)

    def arm(self, fault: str, now: float, **kw: Any) -> Trigger:
        """Inject ``fault`` later: ``after_bytes=N`` more bytes, ``after_mm=N`` more paper, or
        ``on_cut=1`` when the next cut is reached (before it is done)."""
        del now
        return self.fault_control.arm(fault, **kw)

    def disarm(self, fault: str | None = None) -> int:
        return self.fault_control.disarm(fault)

    # == the print engine ======================================================================

    def advance(self, now: float) -> None:
        """Print what the time up to ``now`` allows."""
        self.fault_control.timers(now)
        paper = self.paper
        if not self.reading:
            paper.head = now
            return
        while True:
            if self.status.faults & STOPPING or not self.reading:
                paper.head = now
                return
            cmd = self.buffer.next_command(self.interpreter.dbcs())
            if cmd is None:
                paper.head = now
                return
            mm = self.interpreter.paper_mm(cmd, self.buffer.payload)
            if self.fault_control.fire_print_triggers(cmd, mm, now):
                continue
            if not paper.print_for(mm, self.speed, now):
                return  # still printing it
            self.interpreter.execute(cmd, self.buffer.take_payload())
            if mm:
                paper.passed(mm)

    # == inspection ============================================================================

    def snapshot(self) -> dict[str, Any]:
        buf = self.buffer
        return {
            "powered": self.powered,
            "online": not self.offline,
            "faults": sorted(f.value for f in self.faults),
            "buffer": {"used": buf.used, "size": self.config.buffer_size,
                       "receive": len(buf.data),
                       "command": buf.current.name if buf.current else None},
            "printed_mm": round(self.printed_mm, 3),
            "bytes_received": self.bytes_received,
            "speed_mm_s": self.speed,
            "bytes_per_s": self.byte_rate,
            "asb": self.asb_mask,
            "offline_response": self.offline_response,
            "counters": self.counters.as_dict(),
            "cumulative": self.cumulative.as_dict(),
            "armed": [t.describe() for t in self.triggers],
            "output_pending": sum(len(o) for o in self.status.out),
            "slips": len(self.transcript.slips()),
            "power_epoch": self.power_epoch,
            "link_epoch": self.link_epoch,
        }

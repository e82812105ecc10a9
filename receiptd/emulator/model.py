"""The printer itself: a pure model with no I/O and no threads; time is passed in.

Life of a byte: ``feed()`` puts it in the receive buffer (or refuses it when the buffer is full,
which is what makes the transport stop reading) and shows it to the real-time scanner, which runs
``DLE EOT``/``DLE ENQ``/``DLE DC4`` on arrival, wherever they appear. ``advance(now)`` lets the
interpreter take commands from the head of the buffer and "print" them: each command that moves
paper takes ``mm / speed`` seconds and is recorded in the transcript when it has finished. A fault
that stops printing leaves the current command where it is; it runs when the fault clears.

Status bits follow the Epson tables (see ``receiptd/emulator/README.md``). Replies are queued as
whole messages, so a ``0x37``/``0x5F`` block is never interleaved with an ASB block.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from receiptd.emulator import commands as cmds
from receiptd.emulator.commands import Command, RealtimeScanner
from receiptd.emulator.transcript import Transcript, display_width

DOTS_PER_MM = 8.0
CUT_FEED_MM = 3.0
POWER_ON_NOTICE = b"\x3b\x31\x00"
BUFFER_CLEARED = b"\x37\x25\x00"


class Fault(StrEnum):
    NEAR_END = "near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    CUTTER_ERROR = "cutter_error"
    JAM = "jam"
    OVERHEAT = "overheat"
    UNRECOVERABLE = "unrecoverable"
    SILENT = "silent"
    DRAWER_OPEN = "drawer_open"


# Things to do to the printer that are not lasting states.
ACTIONS = frozenset({"power_cycle", "slow", "garbage", "feed_button", "disconnect"})
FAULT_NAMES = frozenset(f.value for f in Fault)
# Printing stops while any of these is present.
STOPPING = frozenset({Fault.PAPER_OUT, Fault.COVER_OPEN, Fault.CUTTER_ERROR, Fault.JAM,
                      Fault.OVERHEAT, Fault.UNRECOVERABLE})
RECOVERABLE = frozenset({Fault.CUTTER_ERROR, Fault.JAM})  # DLE ENQ recovers these
ERRORS = frozenset({Fault.CUTTER_ERROR, Fault.JAM, Fault.OVERHEAT, Fault.UNRECOVERABLE})
# Transcript event names when a fault appears / clears.
EVENT_ON = {
    Fault.NEAR_END: "paper_near_end", Fault.PAPER_OUT: "paper_out",
    Fault.COVER_OPEN: "cover_open", Fault.CUTTER_ERROR: "cutter_error", Fault.JAM: "jam",
    Fault.OVERHEAT: "overheat", Fault.UNRECOVERABLE: "unrecoverable_error",
    Fault.SILENT: "silent", Fault.DRAWER_OPEN: "drawer_open",
}
EVENT_OFF = {
    Fault.NEAR_END: "paper_near_end_cleared", Fault.PAPER_OUT: "paper_loaded",
    Fault.COVER_OPEN: "cover_closed", Fault.CUTTER_ERROR: "recovered", Fault.JAM: "recovered",
    Fault.OVERHEAT: "cooled", Fault.UNRECOVERABLE: "unrecoverable_cleared",
    Fault.SILENT: "unsilent", Fault.DRAWER_OPEN: "drawer_closed",
}
TRIGGER_KINDS = ("after_bytes", "after_mm", "on_cut")


class EmulatorError(ValueError):
    """A bad fault name or argument given to the emulator (control port answers ``error``)."""


@dataclass(frozen=True)
class Identity:
    model_id: int = 0x20  # GS I 1
    type_id: int = 0x02  # GS I 2: bit 1 = autocutter
    version_id: int = 0x01  # GS I 3
    firmware: str = "1.00 ESC/POS"  # GS I 65
    maker: str = "EPSON"  # GS I 66
    model: str = "TM-T88V"  # GS I 67
    serial: str = "RCPTEMU0001"  # GS I 68
    font: str = "PC437"  # GS I 69


@dataclass(frozen=True)
class PrinterConfig:
    buffer_size: int = 4096
    speed_mm_s: float = 250.0
    columns: int = 42  # font A characters per line
    bytes_per_s: float | None = None  # link rate limit (serial baud / 10)
    overheat_s: float = 2.0  # how long a head overheat lasts
    power_off_s: float = 1.0  # how long a power cycle keeps the printer off
    cjk: str = "gb18030"  # double-byte encoding in FS & mode until FS C selects another
    identity: Identity = field(default_factory=Identity)
    process_id: bool = True  # False: GS ( H fn 48 is consumed but never answered (older models)


@dataclass
class Trigger:
    fault: str
    kind: str  # after_bytes | after_mm | on_cut
    at: float  # absolute byte count or printed mm; unused for on_cut
    kwargs: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"fault": self.fault, "kind": self.kind, "at": self.at, **self.kwargs}


@dataclass
class PrintMode:
    """Interpreter settings that ESC @ resets."""

    align: str = "left"
    bold: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1
    font_b: bool = False
    codepage: int = 0
    line_spacing: int = 30  # dots
    left_margin: int = 0  # dots
    area_width: int = 0  # dots; 0 = whole line
    kanji: bool = False
    kanji_code: str | None = None  # None: the configured CJK encoding
    tabs: tuple[int, ...] = tuple(range(8, 256, 8))
    barcode_height: int = 162
    hri: int = 0
    qr_module: int = 3


@dataclass
class Counters:
    feed_dots: int = 0
    head_rows: int = 0
    cuts: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"feed_lines": self.feed_dots // 30, "head_energizing": self.head_rows,
                "cuts": self.cuts}


class PrinterModel:
    def __init__(self, config: PrinterConfig | None = None, now: float | None = None) -> None:
        self.config = config or PrinterConfig()
        if self.config.cjk not in cmds.DBCS_CODECS:
            raise EmulatorError(f"cjk={self.config.cjk!r}: use one of {sorted(cmds.DBCS_CODECS)}")
        t = time.monotonic() if now is None else now
        self.transcript = Transcript(self.config.columns)
        self.faults: set[Fault] = set()
        self.rx = bytearray()
        self._scanner = RealtimeScanner()
        self._out: list[bytes] = []
        self._mode = PrintMode()
        self._line: list[str] = []
        self._line_attrs: dict[str, Any] | None = None
        self._line_graphics = False
        self._cur: Command | None = None
        self._payload = bytearray()
        self._head = t
        self._started = t
        self._overheat_until: float | None = None
        self._power_on_at: float | None = None
        self.powered = True
        self.power_epoch = 0  # bumped at each power loss: transports drop their host then
        self.link_epoch = 0  # bumped by ``disconnect``: the TCP transport resets its host
        self._notice_pending = False
        self.asb_mask = 0
        self._asb_sent: bytes | None = None
        self.offline_response = False
        self._was_offline = False
        self.printed_mm = 0.0
        self.bytes_received = 0
        self.counters = Counters()
        self.cumulative = Counters()
        self.triggers: list[Trigger] = []
        self.link_bytes_per_s = self.config.bytes_per_s  # the serial line's baud / 10
        self.slow_bytes_per_s: float | None = None
        self.slow_mm_s: float | None = None
        self._tokens = 0.0
        self._tokens_at = t
        self._symbols: dict[int, bytes] = {}
        self._graphics: tuple[int, int] | None = None
        self._downloaded: tuple[int, int] | None = None

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
        return self.powered and Fault.SILENT not in self.faults

    @property
    def buffer_free(self) -> int:
        return max(0, self.config.buffer_size - len(self.rx))

    def feed(self, data: bytes, now: float) -> int:
        """Receive bytes from the host; returns how many were taken (fewer when full)."""
        self.advance(now)
        if not self.reading or not data:
            return 0
        allowed = self._rate_allowance(now)
        taken = 0
        while taken < len(data) and taken < allowed and self.reading:
            space = self.buffer_free
            if space == 0:
                # A full buffer still executes a real-time command (Epson: "even when the
                # receive buffer is full"); anything else waits in the host's send queue.
                k = cmds.realtime_length(data[taken:])
                if k == 0 or taken + k > allowed:
                    break
                self._scanner.reset()
                self._realtime(bytes(data[taken : taken + k]), now)
                taken += k
                self.bytes_received += k
                self._fire_byte_triggers(now)
                continue
            limit = min(len(data), taken + space)
            if allowed != math.inf:
                limit = min(limit, int(allowed))
            due = [t.at for t in self.triggers if t.kind == "after_bytes"]
            if due:
                limit = min(limit, max(taken + 1, int(min(due)) - self.bytes_received + taken))
            chunk = data[taken:limit]
            self._receive(chunk, now)
            taken = limit
            self.bytes_received += len(chunk)
            self._fire_byte_triggers(now)
        if self.byte_rate:
            self._tokens -= taken
        self.advance(now)
        return taken

    def take_output(self) -> bytes:
        """Reply bytes for the host (nothing while hung or off)."""
        if not self.reading or not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        self._notice_pending = False
        return out

    def host_connected(self) -> None:
        """A new host connection (TCP): replies queued for the previous one are not sent."""
        self._out.clear()
        if self._notice_pending:
            self._out.append(POWER_ON_NOTICE)

    def _rate_allowance(self, now: float) -> float:
        rate = self.byte_rate
        if not rate:
            return math.inf
        burst = max(16.0, rate * 0.05)
        self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        return max(0.0, math.floor(self._tokens))

    def _receive(self, chunk: bytes, now: float) -> None:
        i = 0
        while i < len(chunk):
            if self._scanner.idle:
                j = chunk.find(cmds.DLE, i)
                if j < 0:
                    self.rx += chunk[i:]
                    return
                self.rx += chunk[i:j]
                i = j
            b = chunk[i]
            self.rx.append(b)
            done = self._scanner.push(b)
            if done is not None:
                self._realtime(done, now)
            i += 1

    # == real-time commands (on arrival) =======================================================

    def _realtime(self, seq: bytes, now: float) -> None:
        fn = seq[1]
        if fn == 0x04:
            self._send(bytes([self.realtime_status(seq[2])]))
        elif fn == 0x05:
            self._dle_enq(seq[2], now)
        elif seq[2] == 0x08:
            self._clear_buffers()
            self._send(BUFFER_CLEARED)
            self.transcript.event("buffer_cleared")
        elif seq[2] == 0x07:
            if seq[3] == 1:
                self._send(self.asb_bytes())
            elif seq[3] == 4:
                self._send(self._offline_block())
        elif seq[2] == 0x01:
            self.transcript.add({"type": "drawer", "pin": 2 if seq[3] == 0 else 5})
        # DLE DC4 2 (power off) is deliberately ignored.

    def _dle_enq(self, n: int, now: float) -> None:
        present = self.faults & RECOVERABLE
        if not present or n == 0:
            return  # ignored for auto-recoverable errors and when nothing needs recovering
        if n == 2:
            self._clear_buffers()
            self.transcript.event("buffer_cleared")
        for fault in sorted(present):
            self._clear_fault(fault, now, why="dle_enq")

    def _clear_buffers(self) -> None:
        self.rx.clear()
        self._scanner.reset()
        self._cur = None
        self._payload = bytearray()
        self._line = []
        self._line_attrs = None
        self._line_graphics = False

    # == status bytes ==========================================================================

    @property
    def offline(self) -> bool:
        return bool(self.faults & STOPPING) or not self.powered

    def realtime_status(self, n: int) -> int:
        """The DLE EOT n reply: pattern 0xx1xx10."""
        f = self.faults
        v = 0x12
        if n == 1:
            v |= 0x04 if Fault.DRAWER_OPEN in f else 0
            v |= 0x08 if self.offline else 0
            v |= 0x20 if f & RECOVERABLE else 0
        elif n == 2:
            v |= 0x04 if Fault.COVER_OPEN in f else 0
            v |= 0x20 if Fault.PAPER_OUT in f else 0
            v |= 0x40 if f & ERRORS else 0
        elif n == 3:
            v |= 0x04 if Fault.JAM in f else 0
            v |= 0x08 if Fault.CUTTER_ERROR in f else 0
            v |= 0x20 if Fault.UNRECOVERABLE in f else 0
            v |= 0x40 if Fault.OVERHEAT in f else 0
        elif n == 4:
            v |= 0x0C if Fault.NEAR_END in f else 0
            v |= 0x60 if Fault.PAPER_OUT in f else 0
        return v

    def asb_bytes(self) -> bytes:
        f = self.faults
        b1 = 0x10
        b1 |= 0x04 if Fault.DRAWER_OPEN in f else 0
        b1 |= 0x08 if self.offline else 0
        b1 |= 0x20 if Fault.COVER_OPEN in f else 0
        b2 = 0x04 if Fault.JAM in f else 0
        b2 |= 0x08 if Fault.CUTTER_ERROR in f else 0
        b2 |= 0x20 if Fault.UNRECOVERABLE in f else 0
        b2 |= 0x40 if Fault.OVERHEAT in f else 0
        b3 = 0x03 if Fault.NEAR_END in f else 0
        b3 |= 0x0C if Fault.PAPER_OUT in f else 0
        return bytes([b1, b2, b3, 0])

    def _asb_view(self) -> bytes:
        """The part of the ASB block that the enabled items cover: a change here sends a block."""
        b1, b2, b3, _ = self.asb_bytes()
        m = self.asb_mask
        return bytes([
            (b1 & 0x04 if m & 0x01 else 0) | (b1 & 0x28 if m & 0x02 else 0)
            | (b1 & 0x40 if m & 0x40 else 0),
            b2 if m & 0x04 else 0,
            b3 if m & 0x08 else 0,
        ])

    def _offline_block(self) -> bytes:
        # Emulator convention: the four ASB bytes with bit 7 set, so that none is NUL.
        return b"\x37\x23" + bytes(b | 0x80 for b in self.asb_bytes()) + b"\x00"

    def _status_changed(self) -> None:
        if self.asb_mask:
            view = self._asb_view()
            if view != self._asb_sent:
                self._asb_sent = view
                self._send(self.asb_bytes())
        offline = self.offline
        if offline and not self._was_offline and self.offline_response and self.powered:
            self._send(self._offline_block())
        self._was_offline = offline

    def _send(self, message: bytes) -> None:
        # Every message is queued whole: a 0x37/0x5F block and an ASB block never interleave.
        if self.powered:
            self._out.append(message)

    # == faults ================================================================================

    def inject(self, fault: str, now: float, **kw: Any) -> None:
        """Make something happen to the printer (see README for names and arguments)."""
        self._inject(fault, now, **kw)
        self.advance(now)

    def _inject(self, fault: str, now: float, **kw: Any) -> None:
        after = [k for k in TRIGGER_KINDS if k in kw]
        if after:
            if fault == "paper_out" and after == ["after_mm"]:
                self.arm(fault, now, **kw)
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
            self._send(data)
            self.transcript.event("garbage", hex=data.hex(" "))
        elif fault == "feed_button":
            self.transcript.event("feed_button")
        elif fault == "disconnect":
            # A cable pull / network blip: the connection goes, the printer keeps its buffer
            # and goes on printing what it already has (replies queued for that host are lost).
            self.link_epoch += 1
            self._out.clear()
            self.transcript.event("disconnect")
        elif fault in FAULT_NAMES:
            f = Fault(fault)
            if f is Fault.OVERHEAT:
                self._overheat_until = now + float(kw.get("duration_s", self.config.overheat_s))
            self._set_fault(f, now)
        else:
            raise EmulatorError(f"unknown fault {fault!r}")

    def clear(self, fault: str, now: float) -> None:
        """End a fault the way an operator would (load paper, close the cover, ...)."""
        if fault == "slow":
            self.slow_bytes_per_s = self.slow_mm_s = None
            self.transcript.event("fast")
            return
        if fault not in FAULT_NAMES:
            raise EmulatorError(f"unknown fault {fault!r}")
        f = Fault(fault)
        if f is Fault.UNRECOVERABLE:
            raise EmulatorError("an unrecoverable error only clears with power_cycle")
        if f is Fault.PAPER_OUT:
            # A new roll: no longer near its end either, and what follows is a new slip.
            if f in self.faults:
                self.transcript.new_slip()
            self._clear_fault(Fault.NEAR_END, now, why="operator")
            self.triggers = [t for t in self.triggers
                             if not (t.fault == "paper_out" and t.kind == "after_mm")]
        self._clear_fault(f, now, why="operator")
        self.advance(now)

    def arm(self, fault: str, now: float, **kw: Any) -> Trigger:
        """Inject ``fault`` later: ``after_bytes=N`` more bytes, ``after_mm=N`` more paper, or
        ``on_cut=1`` when the next cut is reached (before it is done)."""
        del now
        if fault not in FAULT_NAMES and fault not in ACTIONS:
            raise EmulatorError(f"unknown fault {fault!r}")
        kinds = [k for k in TRIGGER_KINDS if k in kw]
        if len(kinds) != 1:
            raise EmulatorError("arm needs exactly one of after_bytes=N, after_mm=N, on_cut")
        kind = kinds[0]
        value = kw.pop(kind)
        if kind == "after_bytes":
            at = float(self.bytes_received + int(value))
        elif kind == "after_mm":
            at = self.printed_mm + float(value)
        else:
            at = 0.0
        trigger = Trigger(fault, kind, at, dict(kw))
        self.triggers.append(trigger)
        return trigger

    def disarm(self, fault: str | None = None) -> int:
        before = len(self.triggers)
        self.triggers = [t for t in self.triggers if fault is not None and t.fault != fault]
        return before - len(self.triggers)

    def _fire(self, trigger: Trigger, now: float) -> None:
        self.triggers.remove(trigger)
        if trigger.fault == "paper_out" and trigger.kind == "after_mm":
            self._set_fault(Fault.PAPER_OUT, now)
            return
        self._inject(trigger.fault, now, **trigger.kwargs)

    def _fire_byte_triggers(self, now: float) -> None:
        for t in [t for t in self.triggers if t.kind == "after_bytes"]:
            if self.bytes_received >= t.at:
                self._fire(t, now)

    def _set_fault(self, fault: Fault, now: float) -> None:
        if fault in self.faults:
            return
        self.faults.add(fault)
        self.transcript.event(EVENT_ON[fault])
        if fault in STOPPING:
            self._head = now
        self._status_changed()

    def _clear_fault(self, fault: Fault, now: float, why: str) -> None:
        if fault not in self.faults:
            return
        self.faults.discard(fault)
        if fault is Fault.OVERHEAT:
            self._overheat_until = None
        event = EVENT_OFF[fault]
        if event == "recovered":
            self.transcript.event(event, fault=fault.value, by=why)
        else:
            self.transcript.event(event)
        self._head = max(self._head, now)
        self._status_changed()

    def _power_off(self, now: float, off_s: float) -> None:
        self.transcript.event("power_off")
        self._out.clear()
        self._clear_buffers()
        self._mode = PrintMode()
        self._symbols.clear()
        self._graphics = self._downloaded = None
        self.asb_mask = 0
        self._asb_sent = None
        self.offline_response = False
        for f in (Fault.CUTTER_ERROR, Fault.JAM, Fault.OVERHEAT, Fault.UNRECOVERABLE,
                  Fault.SILENT):
            self.faults.discard(f)
        self._overheat_until = None
        self.powered = False
        self.power_epoch += 1
        self._power_on_at = now + off_s
        self._notice_pending = False
        if off_s <= 0:
            self._power_on(now)

    def _power_on(self, now: float) -> None:
        self.powered = True
        self._power_on_at = None
        self._head = now
        self._started = now
        self.counters = Counters()
        self.transcript.new_slip()
        self.transcript.event("power_on")
        self._out.append(POWER_ON_NOTICE)
        self._notice_pending = True
        self._was_offline = self.offline

    def _timers(self, now: float) -> None:
        if self._power_on_at is not None and now >= self._power_on_at:
            self._power_on(now)
        if self._overheat_until is not None and now >= self._overheat_until:
            self._clear_fault(Fault.OVERHEAT, now, why="cooled")

    # == the print engine ======================================================================

    def advance(self, now: float) -> None:
        """Print what the time up to ``now`` allows."""
        self._timers(now)
        if not self.reading:
            self._head = now
            return
        while True:
            if self.faults & STOPPING or not self.reading:
                self._head = now
                return
            cmd = self._next_command()
            if cmd is None:
                self._head = now
                return
            mm = self._paper_mm(cmd)
            if self._fire_print_triggers(cmd, mm, now):
                continue
            if self._head + mm / self.speed > now + 1e-9:
                return  # still printing it
            self._head += mm / self.speed
            payload = bytes(self._payload)
            self._cur, self._payload = None, bytearray()
            self._execute(cmd, payload)
            if mm:
                self.printed_mm += mm
                dots = round(mm * DOTS_PER_MM)
                self.counters.feed_dots += dots
                self.cumulative.feed_dots += dots

    def _next_command(self) -> Command | None:
        if self._cur is None:
            cmd = cmds.decode(self.rx, self._dbcs())
            if cmd is None:
                if len(self.rx) >= self.config.buffer_size:
                    # A command longer than the whole buffer can never complete: drop a byte.
                    cmd = Command("unknown", bytes(self.rx[:2]))
                    del self.rx[:1]
                    self.transcript.add({"type": "unknown", "bytes": cmd.header.hex(" ").upper()})
                return None
            del self.rx[: len(cmd.header)]
            self._cur = cmd
        cmd = self._cur
        need = cmd.payload_len - len(self._payload)
        if need > 0:
            take = self.rx[:need]
            self._payload += take
            del self.rx[: len(take)]
            if len(self._payload) < cmd.payload_len:
                return None
        return cmd

    def _dbcs(self) -> str | None:
        if not self._mode.kanji:
            return None
        return self._mode.kanji_code or self.config.cjk

    def _fire_print_triggers(self, cmd: Command, mm: float, now: float) -> bool:
        fired = False
        for t in list(self.triggers):
            crossed = t.kind == "after_mm" and mm > 0 and self.printed_mm + mm > t.at + 1e-9
            if crossed or (t.kind == "on_cut" and _is_cut(cmd)):
                self._fire(t, now)
                fired = True
        return fired

    # -- paper ---------------------------------------------------------------------------------

    def _line_mm(self) -> float:
        m = self._mode
        char_h = 17 if m.font_b else 24
        return max(m.line_spacing, char_h * m.height) / DOTS_PER_MM

    def _columns(self) -> int:
        m = self._mode
        char_w = 9 if m.font_b else 12
        total = self.config.columns * 12
        area = m.area_width or total
        area = min(area, total - min(m.left_margin, total - char_w))
        return max(1, area // (char_w * m.width))

    def _paper_mm(self, cmd: Command) -> float:
        name = cmd.name
        if name == "lf":
            return self._line_mm()
        if name == "feed_lines":
            return self._line_mm() * max(cmd.arg, 1 if self._line else 0)
        if name == "feed_dots":
            return cmd.arg / DOTS_PER_MM
        if name == "text":
            return self._line_mm() * self._wraps(self._decode_text(cmd.header))
        if _is_cut(cmd):
            extra = cmd.arg / DOTS_PER_MM if name == "cut" and len(cmd.header) == 4 else 0.0
            return CUT_FEED_MM + extra + (self._line_mm() if self._line else 0.0)
        if name == "barcode":
            return (self._mode.barcode_height + (24 if self._mode.hri else 0)) / DOTS_PER_MM + 1
        if name == "raster":
            m, y = cmd.header[3], cmd.header[6] | cmd.header[7] << 8
            return y * (2 if m & 2 else 1) / DOTS_PER_MM
        if name == "GS(k" and self._payload[1:2] == b"\x51":
            data = self._symbols.get(self._payload[0], b"")
            return _qr_modules(len(data)) * self._mode.qr_module / DOTS_PER_MM if data else 0.0
        if name == "GS(L" and bytes(self._payload[1:2]) in (b"\x32", b"\x02") and self._graphics:
            return self._graphics[1] / DOTS_PER_MM
        if name == "print_downloaded_image" and self._downloaded:
            return self._downloaded[1] / DOTS_PER_MM
        return 0.0

    # -- text ----------------------------------------------------------------------------------

    def _decode_text(self, raw: bytes) -> str:
        return cmds.decode_text(raw, self._dbcs(), self._mode.codepage)

    def _wraps(self, text: str) -> int:
        cols, used, wraps = self._columns(), display_width("".join(self._line)), 0
        for ch in text:
            w = display_width(ch)
            if used + w > cols:
                wraps, used = wraps + 1, 0
            used += w
        return wraps

    def _put_text(self, text: str) -> None:
        cols = self._columns()
        used = display_width("".join(self._line))
        for ch in text:
            w = display_width(ch)
            if used + w > cols:
                self._emit_line()
                used = 0
            if self._line_attrs is None:
                self._line_attrs = self._attrs()
            self._line.append(ch)
            used += w

    def _attrs(self) -> dict[str, Any]:
        m = self._mode
        return {"align": m.align, "bold": m.bold, "underline": m.underline,
                "size": [m.width, m.height]}

    def _emit_line(self, force: bool = True) -> None:
        """Print the line buffer (an empty line too, unless it only held graphics)."""
        if self._line or (force and not self._line_graphics):
            attrs = self._line_attrs or self._attrs()
            self.transcript.add({"type": "text", "text": "".join(self._line), **attrs})
            rows = 24 * self._mode.height if self._line else 0
            self.counters.head_rows += rows
            self.cumulative.head_rows += rows
        self._line, self._line_attrs, self._line_graphics = [], None, False

    # -- execution -----------------------------------------------------------------------------

    def _execute(self, cmd: Command, payload: bytes) -> None:
        name, m = cmd.name, self._mode
        if name == "text":
            self._put_text(self._decode_text(cmd.header))
        elif name == "lf":
            self._emit_line()
        elif name == "ht":
            used = display_width("".join(self._line))
            stop = next((t for t in m.tabs if t > used), None)
            if stop is not None:
                self._put_text(" " * (min(stop, self._columns()) - used))
        elif name == "feed_lines":
            for _ in range(cmd.arg):
                self._emit_line()
            if cmd.arg == 0 and self._line:
                self._emit_line()
        elif name == "feed_dots":
            self._emit_line(force=False)
        elif name == "init":
            self._mode = PrintMode()
            self._line, self._line_attrs, self._line_graphics = [], None, False
        elif name == "align":
            m.align = {0: "left", 1: "center", 2: "right"}.get(cmd.arg % 48, "left")
        elif name == "bold":
            m.bold = bool(cmd.arg & 1)
        elif name == "underline":
            m.underline = cmd.arg % 48 if cmd.arg % 48 <= 2 else 0
        elif name == "char_size":
            m.width, m.height = (cmd.arg >> 4 & 7) + 1, (cmd.arg & 7) + 1
        elif name == "print_mode":
            n = cmd.arg
            m.font_b, m.bold = bool(n & 0x01), bool(n & 0x08)
            m.height, m.width = (2 if n & 0x10 else 1), (2 if n & 0x20 else 1)
            m.underline = 1 if n & 0x80 else 0
        elif name == "font":
            m.font_b = cmd.arg in (1, 49)
        elif name == "line_spacing":
            m.line_spacing = cmd.arg
        elif name == "line_spacing_default":
            m.line_spacing = 30
        elif name == "left_margin":
            m.left_margin = cmd.header[2] | cmd.header[3] << 8
        elif name == "area_width":
            m.area_width = cmd.header[2] | cmd.header[3] << 8
        elif name == "codepage":
            m.codepage = cmd.arg
        elif name == "kanji_on":
            m.kanji = True
        elif name == "kanji_off":
            m.kanji = False
        elif name == "kanji_code":
            m.kanji_code = {0: "jis", 1: "shift_jis", 2: "shift_jisx0213"}.get(cmd.arg % 48)
        elif name == "tabs":
            m.tabs = tuple(cmd.data)
        elif name == "barcode_height":
            m.barcode_height = cmd.arg or 162
        elif name == "hri_position":
            m.hri = cmd.arg % 48
        elif _is_cut(cmd):
            self._cut(cmd)
        elif name == "drawer":
            self.transcript.add({"type": "drawer", "pin": 2 if cmd.header[2] in (0, 48) else 5})
        elif name == "barcode":
            self._barcode(cmd, payload)
        elif name in ("raster", "raster_q"):
            scale = cmd.header[3]
            x, y = cmd.header[4] | cmd.header[5] << 8, cmd.header[6] | cmd.header[7] << 8
            w, h = x * 8 * (2 if scale & 1 else 1), y * (2 if scale & 2 else 1)
            self._image(w, h)
        elif name == "bit_image":
            self._bit_image(cmd)
        elif name == "define_downloaded_image":
            self._downloaded = (cmd.header[2] * 8, cmd.header[3] * 8)
        elif name == "print_downloaded_image" and self._downloaded:
            self._image(*self._downloaded)
        elif name == "GS(H":
            self._gs_paren_h(payload)
        elif name == "GS(k":
            self._symbol(payload)
        elif name == "GS(L":
            self._graphics_cmd(payload)
        elif name == "asb":
            self.asb_mask = cmd.arg
            self._asb_sent = self._asb_view()
            if cmd.arg:
                self._send(self.asb_bytes())
        elif name == "status":
            self._gs_r(cmd.arg)
        elif name == "identity":
            self._gs_i(cmd.arg)
        elif name == "maintenance":
            self._gs_g(cmd.header)
        elif name == "unknown":
            self.transcript.add({"type": "unknown", "bytes": cmd.header.hex(" ").upper()})
        # Everything else (realtime already run on arrival, control bytes, CR, settings that
        # do not change the transcript) is consumed without effect.

    def _cut(self, cmd: Command) -> None:
        if self._line:
            self._emit_line()
        m = cmd.header[2] if cmd.name == "cut" else (1 if cmd.name == "cut_legacy_partial" else 0)
        partial = bool(m & 1)  # 1, 49, 66, 98, 104: partial
        self.transcript.add({"type": "cut", "partial": partial})
        self.transcript.new_slip()
        self.counters.cuts += 1
        self.cumulative.cuts += 1

    def _image(self, width: int, height: int) -> None:
        self.transcript.add({"type": "image", "width": width, "height": height})
        self.counters.head_rows += height
        self.cumulative.head_rows += height

    def _bit_image(self, cmd: Command) -> None:
        """ESC * stripes (8 or 24 dots high) are joined into one image entry."""
        mode, n = cmd.header[2], cmd.header[3] | cmd.header[4] << 8
        height = 8 if mode in (0, 1) else 24
        width = n * (2 if mode in (0, 32) else 1)
        last = self.transcript.last()
        if self._line_graphics or not (
            last and last.get("type") == "image" and last.get("stripes") and
            last["width"] == width
        ):
            self.transcript.add({"type": "image", "width": width, "height": height,
                                 "stripes": True})
        else:
            last["height"] += height
        self._line_graphics = True
        self.counters.head_rows += height
        self.cumulative.head_rows += height

    def _barcode(self, cmd: Command, payload: bytes) -> None:
        sym = cmds.BARCODE_SYMBOLOGIES.get(cmd.header[2], f"BARCODE{cmd.header[2]}")
        data = cmd.data if cmd.header[2] <= 6 else payload
        self.transcript.add({"type": "barcode", "symbology": sym,
                             "data": cmds.barcode_text(sym, data)})
        self.counters.head_rows += self._mode.barcode_height
        self.cumulative.head_rows += self._mode.barcode_height

    def _symbol(self, payload: bytes) -> None:
        if len(payload) < 2:
            return
        cn, fn = payload[0], payload[1]
        if cn == 0x31 and fn == 0x43 and len(payload) >= 3:
            self._mode.qr_module = payload[2] or 3
        elif fn == 0x50:  # store: cn 50 30 d...
            self._symbols[cn] = payload[3:]
        elif fn == 0x51:  # print
            data = self._symbols.get(cn)
            if data is None:
                return
            text = _text_of(data)
            if cn == 0x31:
                self.transcript.add({"type": "qr", "data": text})
            else:
                self.transcript.add({"type": "barcode", "data": text,
                                     "symbology": cmds.SYMBOL_NAMES.get(cn, f"2D{cn:02X}")})

    def _graphics_cmd(self, payload: bytes) -> None:
        if len(payload) < 2:
            return
        fn = payload[1]
        if fn in (0x70, 0x71) and len(payload) >= 10:  # store raster graphics in print buffer
            bx, by = payload[3], payload[4]
            x, y = payload[6] | payload[7] << 8, payload[8] | payload[9] << 8
            self._graphics = (x * max(bx, 1), y * max(by, 1))
        elif fn in (0x32, 0x02) and self._graphics:  # print the buffered graphics
            self._image(*self._graphics)
            self._graphics = None

    def _gs_paren_h(self, payload: bytes) -> None:
        if payload[:2] == b"\x30\x30" and len(payload) == 6:  # fn 48: process ID
            if self.config.process_id:
                self._send(b"\x37\x22" + payload[2:6] + b"\x00")
        elif payload[:2] == b"\x31\x30" and len(payload) == 3:  # fn 49: offline response
            self.offline_response = payload[2] != 0

    def _gs_r(self, n: int) -> None:
        n = n % 48 if n >= 48 else n
        if n == 1:
            f = self.faults
            v = (0x03 if Fault.NEAR_END in f else 0) | (0x0C if Fault.PAPER_OUT in f else 0)
            self._send(bytes([v]))
        elif n == 2:
            self._send(bytes([0x01 if Fault.DRAWER_OPEN in self.faults else 0]))
        elif n == 4:
            self._send(b"\x00")

    def _gs_i(self, n: int) -> None:
        ident = self.config.identity
        one_byte = {1: ident.model_id, 49: ident.model_id, 2: ident.type_id, 50: ident.type_id,
                    3: ident.version_id, 51: ident.version_id}
        text = {65: ident.firmware, 66: ident.maker, 67: ident.model, 68: ident.serial,
                69: ident.font}
        if n in one_byte:
            self._send(bytes([one_byte[n] & 0x6F]))
        elif n in text:
            self._send(b"\x5f" + text[n].encode("ascii", "replace") + b"\x00")

    def _gs_g(self, header: bytes) -> None:
        fn, n = header[2], header[4] | header[5] << 8
        if fn == 0x30:  # GS g 0: reset a resettable counter
            if n == 20:
                self.counters.feed_dots = 0
            elif n == 21:
                self.counters.head_rows = 0
            elif n == 50:
                self.counters.cuts = 0
            return
        if fn != 0x32:
            return
        value = self.counter(n)
        if value is not None:
            self._send(b"\x5f" + str(value).encode() + b"\x00")

    def counter(self, n: int) -> int | None:
        """GS g 2 counter n: 20 feed lines, 21 head energizing, 50 cuts, 70 hours; +128 total."""
        c = self.cumulative if n >= 128 else self.counters
        base = n - 128 if n >= 128 else n
        hours = int((self._head - self._started) // 3600)
        values = {20: c.feed_dots // 30, 21: c.head_rows, 50: c.cuts, 70: hours}
        return values.get(base)

    # == inspection ============================================================================

    def snapshot(self) -> dict[str, Any]:
        return {
            "powered": self.powered,
            "online": not self.offline,
            "faults": sorted(f.value for f in self.faults),
            "buffer": {"used": len(self.rx) + len(self._payload), "size": self.config.buffer_size,
                       "receive": len(self.rx), "command": self._cur.name if self._cur else None},
            "printed_mm": round(self.printed_mm, 3),
            "bytes_received": self.bytes_received,
            "speed_mm_s": self.speed,
            "bytes_per_s": self.byte_rate,
            "asb": self.asb_mask,
            "offline_response": self.offline_response,
            "counters": self.counters.as_dict(),
            "cumulative": self.cumulative.as_dict(),
            "armed": [t.describe() for t in self.triggers],
            "output_pending": sum(len(o) for o in self._out),
            "slips": len(self.transcript.slips()),
            "power_epoch": self.power_epoch,
            "link_epoch": self.link_epoch,
        }


def _is_cut(cmd: Command) -> bool:
    return cmd.name in ("cut", "cut_legacy_full", "cut_legacy_partial")


def _opt_float(value: Any) -> float | None:
    return None if value in (None, "", 0, "0") else float(value)


def _text_of(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# Byte capacity of QR versions 1-10 at ECC level L (binary mode).
_QR_CAPACITY = (17, 32, 53, 78, 106, 134, 154, 192, 230, 271)


def _qr_modules(n: int) -> int:
    """Symbol width in modules including the quiet zone (an estimate, for paper length)."""
    version = next((v for v, cap in enumerate(_QR_CAPACITY, 1) if cap >= n),
                   10 + math.ceil((n - 271) / 40))
    return 21 + 4 * (version - 1) + 8

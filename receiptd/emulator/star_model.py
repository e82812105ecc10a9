"""A Star TSP100 / mC-Print class printer in Star Line Mode: the ESC/POS model's body with a Star
command decoder, interpreter and status.

Everything that is not the dialect is shared with ``PrinterModel``: the receive buffer and its
backpressure, print timing, the transcript, faults and their triggers, power cycles. What
differs: the bytes are framed by ``star_commands`` (real-time ``ENQ``, ``EOT``, ``ESC ACK SOH``
and ``ESC ACK CAN`` are answered on arrival, where a command starts), the commands are run by
``StarInterpreter`` and the status is Star's (``StarStatus``: ASB, ENQ/EOT bytes, ETB counter).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiptd.emulator.commands import Command
from receiptd.emulator.config import PrinterConfig
from receiptd.emulator.faults import FaultControl
from receiptd.emulator.model import PrinterModel
from receiptd.emulator.receive import ReceiveBuffer
from receiptd.emulator.star_commands import (
    ASB_REQUEST,
    ENQ,
    EOT,
    RESET,
    StarFramer,
    decode,
    realtime_length,
)
from receiptd.emulator.star_interpreter import StarInterpreter
from receiptd.emulator.star_status import StarStatus
from receiptd.emulator.transcript import Transcript


class StarReceiveBuffer(ReceiveBuffer):
    """The receive buffer, with Star framing on arrival and the Star decoder at the head."""

    def __init__(self, size: int, transcript: Transcript, raster: Callable[[], bool]) -> None:
        super().__init__(size, transcript)
        self.framer = StarFramer()
        self._raster = raster  # whether the interpreter is in raster mode now

    def receive(self, chunk: bytes, on_realtime: Callable[[bytes], None]) -> None:
        """Buffer ``chunk``; real-time commands are run and kept out of the buffer."""
        done = 0
        for end, seq in self.framer.push(chunk):
            start = end - len(seq)
            if start < 0:  # it began in an earlier chunk: those bytes are the buffer's tail
                del self.data[start:]
                start = 0
            self.data += chunk[done:max(done, start)]
            done = end
            on_realtime(seq)
        self.data += chunk[done:]

    def decode_head(self, dbcs: str | None) -> Command | None:
        del dbcs  # Star Line Mode text is single-byte here
        return decode(self.data, self._raster())

    def discard(self) -> None:
        """Throw away what is buffered, keeping the framing of bytes still arriving."""
        self.data.clear()
        self.current = None
        self.payload = bytearray()

    def clear(self) -> None:
        super().clear()
        self.framer.reset()


class StarPrinterModel(PrinterModel):
    dialect = "star"

    def __init__(self, config: PrinterConfig | None = None, now: float | None = None) -> None:
        super().__init__(config, now)
        cfg, transcript = self.config, self.transcript
        self.status = StarStatus(transcript)
        self.star_interpreter = StarInterpreter(cfg, transcript, self.paper, self.status)
        self.interpreter = self.star_interpreter
        self.star_buffer = StarReceiveBuffer(cfg.buffer_size, transcript,
                                             lambda: self.star_interpreter.raster)
        self.buffer = self.star_buffer
        self.fault_control = FaultControl(cfg, transcript, self.status, self.paper, self.buffer,
                                          self.interpreter)

    @property
    def star_status(self) -> StarStatus:
        assert isinstance(self.status, StarStatus)
        return self.status

    # == real-time commands (on arrival) =======================================================

    def _realtime_length(self, data: bytes | bytearray) -> int:
        """A full buffer still answers a real-time command, if one starts here. (Those bytes
        never reach the framer, so it is told of a reset here.)"""
        framer = self.star_buffer.framer
        n = realtime_length(data) if framer.at_boundary else 0
        if n and bytes(data[:n]) == RESET:
            framer.observe(Command("realtime", RESET))
        return n

    def _realtime(self, seq: bytes, now: float) -> None:
        status = self.star_status
        if seq == bytes([ENQ]):
            status.send(status.enq(self.buffer.used > 0))
        elif seq == bytes([EOT]):
            status.send(status.eot())
        elif seq == ASB_REQUEST:
            status.send_asb()
        elif seq == RESET:
            self.printer_reset(now)

    def printer_reset(self, now: float) -> None:
        """ESC ACK CAN: the receive buffer, the line being composed, print modes, raster mode,
        ASB and the ETB counter go back to their power-on state. Faults stay as they are (an
        error still needs its recovery; paper and cover are what they are); no status is sent."""
        del now
        self.star_buffer.discard()
        self.interpreter.clear_line()
        self.interpreter.reset()
        self.star_status.reset()
        self.transcript.event("reset")

    def ethernet_link(self) -> None:
        """The host talks over the LAN (the TCP transport): ASB is always on."""
        self.star_status.set_ethernet()

    # == inspection ============================================================================

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap["dialect"] = self.dialect
        snap["etb_counter"] = self.star_status.etb_counter
        snap["raster"] = self.star_interpreter.raster
        return snap

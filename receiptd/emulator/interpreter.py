"""The interpreter: runs each command from the receive buffer against the paper and the status.

It owns what the host has set up for the next things to print: the print mode, the line being
composed (text waits in it until LF, a feed or a cut prints it), stored 2D symbols and graphics.
``paper_mm`` says how much paper a command will take before it runs, so the model can time it;
``execute`` then records what came out in the transcript.
"""

from __future__ import annotations

from typing import Any

from receiptd.emulator.barcodes import BARCODE_SYMBOLOGIES, SYMBOL_NAMES, barcode_text, symbol_text
from receiptd.emulator.charsets import decode_text
from receiptd.emulator.command_table import GS_CUT_PARTIAL
from receiptd.emulator.commands import Command, is_cut
from receiptd.emulator.config import PrinterConfig
from receiptd.emulator.mode import PrintMode, apply_setting
from receiptd.emulator.paper import (
    CUT_FEED_MM,
    DOTS_PER_MM,
    Paper,
    line_columns,
    line_mm,
    qr_modules,
)
from receiptd.emulator.status import PrinterStatus, identity_reply, sensor_status
from receiptd.emulator.transcript import Transcript, display_width


class Interpreter:
    def __init__(self, config: PrinterConfig, transcript: Transcript, paper: Paper,
                 status: PrinterStatus) -> None:
        self.config = config
        self.transcript = transcript
        self.paper = paper
        self.status = status
        self.mode = PrintMode()
        self._line: list[str] = []
        self._line_attrs: dict[str, Any] | None = None
        self._line_graphics = False
        self._symbols: dict[int, bytes] = {}
        self._graphics: tuple[int, int] | None = None
        self._downloaded: tuple[int, int] | None = None

    def clear_line(self) -> None:
        """Forget the line being composed (a buffer clear)."""
        self._line, self._line_attrs, self._line_graphics = [], None, False

    def reset(self) -> None:
        """Power off: the print mode and stored symbols and graphics are lost."""
        self.mode = PrintMode()
        self._symbols.clear()
        self._graphics = self._downloaded = None

    def cuts(self, cmd: Command) -> bool:
        """Whether running ``cmd`` cuts the paper (``arm ... on_cut`` fires before it)."""
        return is_cut(cmd)

    def dbcs(self) -> str | None:
        """The double-byte character set in use, or None outside Kanji mode."""
        if not self.mode.kanji:
            return None
        return self.mode.kanji_code or self.config.cjk

    # -- paper ---------------------------------------------------------------------------------

    def paper_mm(self, cmd: Command, payload: bytes | bytearray) -> float:
        """Paper ``cmd`` (with its data ``payload``) will take."""
        name, m = cmd.name, self.mode
        if name == "lf":
            return line_mm(m)
        if name == "feed_lines":
            return line_mm(m) * max(cmd.arg, 1 if self._line else 0)
        if name == "feed_dots":
            return cmd.arg / DOTS_PER_MM
        if name == "text":
            return line_mm(m) * self._wraps(self._decode_text(cmd.header))
        if is_cut(cmd):
            extra = cmd.arg / DOTS_PER_MM if name == "cut" and len(cmd.header) == 4 else 0.0
            return CUT_FEED_MM + extra + (line_mm(m) if self._line else 0.0)
        if name == "barcode":
            return (m.barcode_height + (24 if m.hri else 0)) / DOTS_PER_MM + 1
        if name == "raster":
            scale, y = cmd.header[3], cmd.header[6] | cmd.header[7] << 8
            return y * (2 if scale & 2 else 1) / DOTS_PER_MM
        if name == "GS(k" and payload[1:2] == b"\x51":
            data = self._symbols.get(payload[0], b"")
            return qr_modules(len(data)) * m.qr_module / DOTS_PER_MM if data else 0.0
        if name == "GS(L" and bytes(payload[1:2]) in (b"\x32", b"\x02") and self._graphics:
            return self._graphics[1] / DOTS_PER_MM
        if name == "print_downloaded_image" and self._downloaded:
            return self._downloaded[1] / DOTS_PER_MM
        return 0.0

    # -- text ----------------------------------------------------------------------------------

    def _columns(self) -> int:
        return line_columns(self.mode, self.config.columns)

    def _decode_text(self, raw: bytes) -> str:
        return decode_text(raw, self.dbcs(), self.mode.codepage)

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
        m = self.mode
        return {"align": m.align, "bold": m.bold, "underline": m.underline,
                "size": [m.width, m.height]}

    def _emit_line(self, force: bool = True) -> None:
        """Print the line buffer (an empty line too, unless it only held graphics)."""
        if self._line or (force and not self._line_graphics):
            attrs = self._line_attrs or self._attrs()
            self.transcript.add({"type": "text", "text": "".join(self._line), **attrs})
            self.paper.energized(24 * self.mode.height if self._line else 0)
        self.clear_line()

    # -- execution -----------------------------------------------------------------------------

    def execute(self, cmd: Command, payload: bytes) -> None:
        if apply_setting(self.mode, cmd):
            return
        name = cmd.name
        if name == "text":
            self._put_text(self._decode_text(cmd.header))
        elif name == "lf":
            self._emit_line()
        elif name == "ht":
            used = display_width("".join(self._line))
            stop = next((t for t in self.mode.tabs if t > used), None)
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
            self.mode = PrintMode()
            self.clear_line()
        elif is_cut(cmd):
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
            self.status.enable_asb(cmd.arg)
        elif name == "status":
            self._reply(sensor_status(self.status.faults, cmd.arg))
        elif name == "identity":
            self._reply(identity_reply(self.config.identity, cmd.arg))
        elif name == "maintenance":
            self._gs_g(cmd.header)
        elif name == "unknown":
            self.transcript.add({"type": "unknown", "bytes": cmd.header.hex(" ").upper()})
        # Everything else (realtime already run on arrival, control bytes, CR, settings that
        # do not change the transcript) is consumed without effect.

    def _reply(self, message: bytes | None) -> None:
        if message is not None:
            self.status.send(message)

    def _cut(self, cmd: Command) -> None:
        if self._line:
            self._emit_line()
        if cmd.name == "cut":
            partial = cmd.header[2] in GS_CUT_PARTIAL
        else:
            partial = cmd.name == "cut_legacy_partial"
        self.transcript.add({"type": "cut", "partial": partial})
        self.transcript.new_slip()
        self.paper.cut()

    def _image(self, width: int, height: int) -> None:
        self.transcript.add({"type": "image", "width": width, "height": height})
        self.paper.energized(height)

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
        self.paper.energized(height)

    def _barcode(self, cmd: Command, payload: bytes) -> None:
        sym = BARCODE_SYMBOLOGIES.get(cmd.header[2], f"BARCODE{cmd.header[2]}")
        data = cmd.data if cmd.header[2] <= 6 else payload
        self.transcript.add({"type": "barcode", "symbology": sym,
                             "data": barcode_text(sym, data)})
        self.paper.energized(self.mode.barcode_height)

    def _symbol(self, payload: bytes) -> None:
        if len(payload) < 2:
            return
        cn, fn = payload[0], payload[1]
        if cn == 0x31 and fn == 0x43 and len(payload) >= 3:
            self.mode.qr_module = payload[2] or 3
        elif fn == 0x50:  # store: cn 50 30 d...
            self._symbols[cn] = payload[3:]
        elif fn == 0x51:  # print
            data = self._symbols.get(cn)
            if data is None:
                return
            text = symbol_text(data)
            if cn == 0x31:
                self.transcript.add({"type": "qr", "data": text})
            else:
                self.transcript.add({"type": "barcode", "data": text,
                                     "symbology": SYMBOL_NAMES.get(cn, f"2D{cn:02X}")})

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
                self.status.send(b"\x37\x22" + payload[2:6] + b"\x00")
        elif payload[:2] == b"\x31\x30" and len(payload) == 3:  # fn 49: offline response
            d = payload[2]
            if d in (0, 1, 2, 48, 49, 50):  # 48-50 are the ASCII forms; others are ignored
                self.status.offline_response = d % 48

    def _gs_g(self, header: bytes) -> None:
        fn, n = header[2], header[4] | header[5] << 8
        if fn == 0x30:  # GS g 0: reset a resettable counter
            self.paper.reset_counter(n)
        elif fn == 0x32:  # GS g 2: report one
            value = self.paper.counter(n)
            if value is not None:
                self.status.send(b"\x5f" + str(value).encode() + b"\x00")

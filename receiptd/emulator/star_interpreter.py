"""The Star Line Mode interpreter: runs each command from the receive buffer.

It keeps the ESC/POS interpreter's machinery for composing text lines (wrapping, alignment,
sizes: ``Interpreter._put_text`` / ``_emit_line``) and its print mode, and adds what Star has
of its own: ESC E/F emphasis, ESC 4/5 highlight, ESC i sizes, ESC GS a alignment, ESC d cuts,
BEL/SUB drawers, ESC b barcodes, ESC GS y QR codes, raster mode (``ESC * r A`` … ``b n1 n2``
lines … ``ESC * r B``), bit images, ETB and the identity answer (``ESC # *``).
"""

from __future__ import annotations

from typing import Any

from receiptd.emulator.barcodes import barcode_text, symbol_text
from receiptd.emulator.commands import Command
from receiptd.emulator.config import PrinterConfig
from receiptd.emulator.interpreter import Interpreter
from receiptd.emulator.mode import PrintMode
from receiptd.emulator.paper import CUT_FEED_MM, DOTS_PER_MM, Paper, line_mm, qr_modules
from receiptd.emulator.star_commands import BARCODES, STAR_CODEPAGES, ascii_number
from receiptd.emulator.star_status import StarStatus, version_reply
from receiptd.emulator.transcript import Transcript

LINE_SPACING_DOTS = 32  # 4 mm: ESC z 1 / the power-on line feed of a TSP100-class printer
RASTER_DEFAULT_MODE = 13  # ESC * r E / F initial value: form feed, cut feed, partial cut


def star_mode() -> PrintMode:
    """The print mode at power on and after ESC @ / CAN."""
    return PrintMode(line_spacing=LINE_SPACING_DOTS, barcode_height=40, qr_module=3)


def code128_content(data: bytes) -> str:
    """What a Star ``ESC b`` Code128 carries: ``%0`` is a ``%``, ``%`` and 40-5F a control
    character, ``%5`` DEL; ``%1``-``%4`` (function codes) and ``%6``-``%8`` (start codes)
    are not content (Line Mode appendix "Code 128", Regulations)."""
    out: list[str] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x25 and i + 1 < len(data):  # %
            nxt = data[i + 1]
            if nxt == 0x30:
                out.append("%")
            elif 0x40 <= nxt <= 0x5F:
                out.append(chr(nxt - 0x40))
            elif nxt == 0x35:
                out.append("\x7f")
            i += 2
            continue
        out.append(chr(c))
        i += 1
    return "".join(out)


def _n(arg: int) -> int:
    """A parameter given either as a number or as its ASCII digit (1 or "1")."""
    return arg - 48 if arg >= 48 else arg


class StarInterpreter(Interpreter):
    def __init__(self, config: PrinterConfig, transcript: Transcript, paper: Paper,
                 status: StarStatus) -> None:
        super().__init__(config, transcript, paper, status)
        self.star_status = status
        self.mode = star_mode()
        self.highlight = False
        self.raster = False
        self.raster_rows = 0
        self.raster_width = 0
        self.raster_eot = RASTER_DEFAULT_MODE
        self.raster_ff = RASTER_DEFAULT_MODE
        self.qr_data: bytes | None = None
        self.pdf417_data: bytes | None = None

    def reset(self) -> None:
        """Power off or a printer reset: print mode, raster mode and stored symbols are lost."""
        self.mode = star_mode()
        self.highlight = False
        self.raster = False
        self._raster_clear()
        self.qr_data = self.pdf417_data = None

    def clear_line(self) -> None:
        super().clear_line()
        self._raster_clear()

    def dbcs(self) -> str | None:
        return None

    def cuts(self, cmd: Command) -> bool:
        """ESC d n, and the end of a raster page whose FF / EOT mode cuts."""
        return cmd.name == "cut" or (cmd.name in ("raster_ff", "raster_exec")
                                     and self._raster_cuts(cmd))

    # -- paper ---------------------------------------------------------------------------------

    def paper_mm(self, cmd: Command, payload: bytes | bytearray) -> float:
        name, m = cmd.name, self.mode
        if name == "lf":
            return line_mm(m)
        if name == "feed_lines":
            return line_mm(m) * cmd.arg
        if name == "feed_quarter_mm":
            return cmd.arg / 4
        if name == "feed_eighth_mm":
            return cmd.arg / 8
        if name == "text":
            return line_mm(m) * self._wraps(self._decode_text(cmd.header))
        if name == "cut":
            return (CUT_FEED_MM if _n(cmd.arg) >= 2 else 0.0) + (line_mm(m) if self._line else 0)
        if name == "barcode":
            hri = _n(cmd.header[3]) in (2, 4)
            return (cmd.header[5] + (24 if hri else 0)) / DOTS_PER_MM + 1
        if name == "raster_line":
            return 1 / DOTS_PER_MM
        if name == "raster_setting" and cmd.header[3] == 0x59:  # ESC * r Y n NUL
            return (ascii_number(cmd.data) or 0) / DOTS_PER_MM
        if name == "qr_print" and self.qr_data:
            return qr_modules(len(self.qr_data)) * m.qr_module / DOTS_PER_MM
        if name in ("raster_ff", "raster_exec", "raster_quit") and self._raster_cuts(cmd):
            return CUT_FEED_MM
        return 0.0

    # -- text ----------------------------------------------------------------------------------

    def _attrs(self) -> dict[str, Any]:
        return {**super()._attrs(), "highlight": self.highlight}

    # -- execution -----------------------------------------------------------------------------

    def execute(self, cmd: Command, payload: bytes) -> None:
        if self._setting(cmd):
            return
        name = cmd.name
        if name == "text":
            self._put_text(self._decode_text(cmd.header))
        elif name == "lf":
            self._emit_line()
        elif name in ("ff", "vt"):
            self._emit_line(force=False)
        elif name == "ht":
            super().execute(Command("ht", b"\t"), b"")
        elif name == "feed_lines":
            for _ in range(cmd.arg):
                self._emit_line()
        elif name in ("feed_quarter_mm", "feed_eighth_mm"):
            self._emit_line(force=False)
        elif name == "init":
            self.mode, self.highlight = star_mode(), False
            self.clear_line()
        elif name == "cancel":
            self.mode, self.highlight = star_mode(), False
            self.clear_line()
            self.star_status.etb_init()
        elif name == "cut":
            self._cut_star(partial=_n(cmd.arg) in (1, 3))
        elif name in ("drawer1", "drawer2"):
            self.transcript.add({"type": "drawer", "pin": 2 if name == "drawer1" else 5})
        elif name == "hardware_reset":  # ESC ? LF NUL, when the printer reaches it
            self.clear_line()
            self.reset()
            self.star_status.reset()
            self.transcript.event("reset")
        elif name == "etb":
            self.star_status.etb()
        elif name == "asb":
            self.star_status.enable_asb(cmd.arg)
        elif name == "etb_init":
            self.star_status.etb_init()
        elif name == "version_request":
            self.status.send(version_reply(self.config.star_version))
        elif name == "barcode":
            self._barcode_star(cmd)
        elif name.startswith(("qr_", "pdf417_")):
            self._symbol_star(cmd, payload)
        elif name.startswith("raster_"):
            self._raster(cmd, payload)
        elif name == "bit_image":
            self._bit_image_star(cmd)
        elif name == "unknown":
            self.transcript.add({"type": "unknown", "bytes": cmd.header.hex(" ").upper()})
        # Everything else (real-time commands already run on arrival, CR, settings that do not
        # change the transcript, page mode, logos, memory switches) is consumed without effect.

    def _setting(self, cmd: Command) -> bool:
        """Commands that only change how the next text looks."""
        name, m, arg = cmd.name, self.mode, cmd.arg
        if name == "bold_on" or name == "bold_off":
            m.bold = name == "bold_on"
        elif name == "highlight_on" or name == "highlight_off":
            self.highlight = name == "highlight_on"
        elif name == "underline":
            m.underline = 1 if _n(arg) in (1, 2) else 0
        elif name == "expand":
            m.height, m.width = min(_n(cmd.header[2]), 5) + 1, min(_n(cmd.header[3]), 5) + 1
        elif name == "expand_width":
            m.width = min(_n(arg), 5) + 1
        elif name == "expand_height":
            m.height = min(_n(arg), 5) + 1
        elif name in ("width_on", "width_off"):
            m.width = 2 if name == "width_on" else 1
        elif name in ("height_on", "height_off"):
            m.height = 2 if name == "height_on" else 1
        elif name == "align":
            m.align = {0: "left", 1: "center", 2: "right"}.get(_n(arg), "left")
        elif name == "codepage":
            m.codepage = STAR_CODEPAGES.get(arg, 0)
        elif name == "line_spacing":
            m.line_spacing = {0: 24, 1: 34}.get(_n(arg), m.line_spacing)
        elif name == "line_spacing_3mm":
            m.line_spacing = 24
        elif name == "tabs":
            m.tabs = tuple(cmd.data)
        else:
            return False
        return True

    def _cut_star(self, partial: bool) -> None:
        if self._line:
            self._emit_line()
        self.transcript.add({"type": "cut", "partial": partial})
        self.transcript.new_slip()
        self.paper.cut()

    def _barcode_star(self, cmd: Command) -> None:
        sym = BARCODES.get(_n(cmd.header[2]), f"BARCODE{cmd.header[2]}")
        data = code128_content(cmd.data) if sym == "CODE128" else barcode_text(sym, cmd.data)
        self.transcript.add({"type": "barcode", "symbology": sym, "data": data})
        self.paper.energized(cmd.header[5])

    def _symbol_star(self, cmd: Command, payload: bytes) -> None:
        name = cmd.name
        if name == "qr_setting" and cmd.header[4] == 0x32:  # ESC GS y S 2 n: cell size
            self.mode.qr_module = max(1, min(cmd.arg, 8))
        elif name == "qr_data":
            self.qr_data = payload
        elif name == "qr_data_manual":
            self.qr_data = cmd.data
        elif name == "qr_print" and self.qr_data is not None:
            self.transcript.add({"type": "qr", "data": symbol_text(self.qr_data)})
        elif name == "pdf417_data":
            self.pdf417_data = payload
        elif name == "pdf417_print" and self.pdf417_data is not None:
            self.transcript.add({"type": "barcode", "symbology": "PDF417",
                                 "data": symbol_text(self.pdf417_data)})

    # -- raster mode and bit images ------------------------------------------------------------

    def _raster_clear(self) -> None:
        self.raster_rows = self.raster_width = 0

    def _raster_flush(self) -> None:
        """The image buffer has been printed: one image entry for the rows since the last."""
        if self.raster_rows:
            self.transcript.add({"type": "image", "width": self.raster_width,
                                 "height": self.raster_rows})
            self.paper.energized(self.raster_rows)
        self._raster_clear()

    def _raster_cuts(self, cmd: Command) -> bool:
        return self._raster_action(cmd) in (8, 9, 12, 13, 36, 37)

    def _raster_action(self, cmd: Command) -> int:
        """What ending a raster page does: the FF/EOT mode number, 1 (nothing) otherwise."""
        if cmd.name == "raster_exec":
            mode = self.raster_eot if cmd.arg == 0x04 else self.raster_ff
            return mode or RASTER_DEFAULT_MODE
        return 1

    def _raster(self, cmd: Command, payload: bytes) -> None:
        name = cmd.name
        if name == "raster_enter":
            if not self.raster:
                self._emit_line(force=False)
                self.raster = True
                self._raster_clear()
                self.raster_eot = self.raster_ff = RASTER_DEFAULT_MODE
        elif name in ("raster_line", "raster_overlay"):
            self.raster_width = max(self.raster_width, len(payload) * 8)
            if name == "raster_line":
                self.raster_rows += 1
        elif name == "raster_setting":
            self._raster_setting(cmd)
        elif name == "raster_clear":
            self._raster_clear()
        elif name in ("raster_ff", "raster_exec"):
            self._raster_flush()
            action = self._raster_action(cmd)
            if action in (8, 9, 36, 37):
                self._cut_star(partial=False)
            elif action in (12, 13):
                self._cut_star(partial=True)
        elif name == "raster_quit":
            self._raster_flush()
            self.raster = False

    def _raster_setting(self, cmd: Command) -> None:
        letter, value = cmd.header[3], ascii_number(cmd.data)
        if value is None:
            return
        if letter == 0x45:  # ESC * r E n NUL: EOT mode
            self.raster_eot = value or RASTER_DEFAULT_MODE
        elif letter == 0x46:  # ESC * r F n NUL: FF mode
            self.raster_ff = value or RASTER_DEFAULT_MODE
        elif letter == 0x59:  # ESC * r Y n NUL: feed n dot rows; the image so far is printed
            self._raster_flush()
        elif letter == 0x44 and value in (1, 2):  # ESC * r D n NUL: drive drawer n
            self.transcript.add({"type": "drawer", "pin": 2 if value == 1 else 5})

    def _bit_image_star(self, cmd: Command) -> None:
        """ESC K/L (8 dots high), ESC k (24 rows of n bytes), ESC X (24 dots, n columns).

        The host feeds the paper after each band (ESC J, LF); bands of the same width that
        follow each other are one picture, as the ESC/POS model joins its ESC * stripes."""
        fn, n = cmd.header[1], cmd.header[2] | cmd.header[3] << 8
        height = 24 if fn in (0x6B, 0x58) else 8
        width = n * 8 if fn == 0x6B else n
        self._emit_line(force=False)
        last = self.transcript.last()
        if last and last.get("type") == "image" and last.get("stripes") and \
                last["width"] == width:
            last["height"] += height
        else:
            self.transcript.add({"type": "image", "width": width, "height": height,
                                 "stripes": True})
        self.paper.energized(height)

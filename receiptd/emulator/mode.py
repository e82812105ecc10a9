"""The print mode: how the next text looks, set by the host and reset by ``ESC @``.

``apply_setting`` runs the commands that only change the mode (alignment, emphasis, size, line
spacing, margins, code page, Kanji mode, tabs, barcode height); they print nothing themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiptd.emulator.commands import Command


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


def apply_setting(m: PrintMode, cmd: Command) -> bool:
    """Change ``m`` as ``cmd`` asks; False if ``cmd`` is not a mode setting."""
    name = cmd.name
    if name == "align":
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
    else:
        return False
    return True

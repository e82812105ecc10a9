"""Receipt content → ESC/POS bytes, through python-escpos ``Dummy`` and a printer profile.

Every rendering has three parts, concatenated::

    prologue(profile) + marker_section(marker, profile) + render_body(content, profile)

* the **prologue** is fixed per profile: ``ESC @`` (initialise) and ``ESC t n`` (the
  profile's code page), plus ``FS .`` (Kanji mode off) on double-byte printers, after
  ``FS C 1`` (Shift_JIS) on Japanese ones;
* the **marker section** is empty for an original print. For a copy or an interrupted
  reprint it is framed by ``ESC ! 0`` at both ends — a command the body never emits — and
  holds centred bold lines between two rules of ``=``. It starts and ends in the prologue's
  printer state, so the body's bytes do not depend on it;
* the **body** depends only on the content and the profile: a reprint of a receipt is
  byte-identical to the original after the marker section (``split_marker``).

Text is text: control characters in any text field (C0, DEL, C1; TAB becomes a space, LF
is kept only in ``text`` blocks) are replaced before encoding, and zero-width characters
are dropped. Each run of single-byte text is sent in a code page of the printer that holds
it (``ESC t``, switched only where needed); wide characters of the profile's double-byte set
(GB18030, Big5, Shift_JIS, KS C 5601) go between ``FS &`` and ``FS .``. A line with a
character the printer has in neither is drawn with an installed font on the printer's
character grid and sent as a raster image (``receiptd.glyphs``); with no font for it, the
character prints as ``?`` (``??`` if wide). So every text byte is printable and the column
arithmetic (``wcwidth``) matches the paper. Raster data is de-fanged so that it cannot
contain a real-time command (``DLE EOT``/``ENQ``/``DC4``).

Markers are plain ASCII (``-`` rather than an em dash: not every code page has one) and
carry the fixed words ``COPY`` and ``REPRINT``.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import qrcode  # type: ignore[import-untyped]
import qrcode.constants  # type: ignore[import-untyped]
from barcode import get_barcode_class  # type: ignore[import-untyped]
from PIL import Image, ImageOps
from qrcode.exceptions import DataOverflowError  # type: ignore[import-untyped]
from wcwidth import wcwidth

from receiptd.document import (
    BarcodeBlock,
    Content,
    CutBlock,
    DrawerBlock,
    FeedBlock,
    ImageBlock,
    QrBlock,
    RowBlock,
    RuleBlock,
    TextBlock,
)
from receiptd.errors import InvalidDocument
from receiptd.render import glyphs
from receiptd.render.escpos import Dummy, Encoder, constants
from receiptd.render.profiles import Profile

__all__ = [
    "MARKER_DELIMITER",
    "copy_marker",
    "interrupted_marker",
    "marker_section",
    "paper_length_mm",
    "prologue",
    "render",
    "render_body",
    "split_marker",
]

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
MARKER_DELIMITER = ESC + b"!\x00"  # select print mode 0: a no-op here, never in a body
KANJI_ON, KANJI_OFF = FS + b"&", FS + b"."
RASTER_FRAGMENT_ROWS = 960
CUT_FEED_LINES = 6  # python-escpos cut(): ESC d 6 before GS V
HRI_DOTS = 30  # one line of HRI characters below/above a barcode
CHAR_DOTS = {"a": (12, 24), "b": (9, 17)}  # character cell (width, height) of fonts A and B
KANJI_SHIFT_JIS = FS + b"C\x01"  # FS C 1: Kanji code system Shift_JIS (Japanese models)
_REALTIME = (b"\x10\x04", b"\x10\x05", b"\x10\x14")  # DLE EOT, DLE ENQ, DLE DC4

Alignment = Literal["left", "center", "right"]


# -- text: clean, make printable, measure, wrap -----------------------------------------------


def _control_table(multiline: bool) -> dict[int, str]:
    """``str.translate`` table for control characters (and NBSP → space)."""
    table = {c: "?" for c in [*range(0x20), *range(0x7F, 0xA0)]}
    table[0x09] = " "
    nl = "\n" if multiline else " "
    table.update({0x0A: nl, 0x0D: nl, 0x2028: nl, 0x2029: nl, 0xA0: " "})
    table[0xAD] = ""  # soft hyphen: invisible unless the line breaks there
    return table


_MULTILINE = _control_table(True)
_SINGLE_LINE = _control_table(False)


def clean_text(text: str, *, multiline: bool = False) -> str:
    """Replace every control character: TAB → space, CR/LF (CR LF) → LF in multi-line
    fields and space elsewhere, any other C0/DEL/C1 → ``?``. NFC-normalised."""
    if text.isascii() and text.isprintable():
        return text
    text = text.replace("\r\n", "\n")
    return unicodedata.normalize("NFC", text).translate(_MULTILINE if multiline else _SINGLE_LINE)


class _Charset:
    """What one printer can print: single-byte code page characters, double-byte ones."""

    def __init__(self, escpos_profile: str, codec: str | None, lang: str = "SC") -> None:
        capabilities = Dummy(profile=escpos_profile).profile
        self.code_pages: dict[str, str] = capabilities.get_code_pages()
        # Some profiles have one font only: python-escpos refuses to select font B there.
        self.has_font_b = "1" in getattr(capabilities, "fonts", {"1": None})
        probe = Encoder(self.code_pages)
        single: set[str] = set()
        for name in self.code_pages:
            try:
                single.update(probe._get_codepage_char_map(name))
            except LookupError:
                continue
        self.maps: dict[str, dict[str, int]] = probe.available_characters
        self.pages = sorted(self.maps, key=lambda name: int(self.code_pages[name]))
        self._pages: dict[tuple[frozenset[str], str], str | None] = {}
        self.single = frozenset(c for c in single if c.isprintable() and ord(c) >= 0xA0)
        self.codec = codec
        self.lang = lang
        self._cache: dict[str, str] = {}
        self._encodable: dict[str, bool] = {}

    def new_encoder(self) -> Encoder:
        # A fresh encoder per section: its code page preferences depend on what it used
        # before, so sharing one would make the bytes depend on earlier receipts.
        encoder = Encoder(self.code_pages)
        encoder.available_characters = self.maps
        return encoder

    def page_for(self, chars: frozenset[str], current: str | None) -> str | None:
        """The code page to write these (non-ASCII, single-byte) characters in: the current
        one if it holds them all, else the lowest-numbered one that does, else ``None``."""
        key = (chars, current or "")
        if key not in self._pages:
            candidates = [current] if current in self.maps else []
            found = None
            for name in candidates + self.pages:
                if chars.issubset(self.maps[name]):
                    found = name
                    break
            self._pages[key] = found
        return self._pages[key]

    def is_double(self, char: str) -> bool:
        return ord(char) >= 0x80 and char not in self.single

    def encodable(self, char: str) -> bool:
        """True if the printer has this character in a code page or its double-byte set."""
        known = self._encodable.get(char)
        if known is None:
            known = ord(char) < 0x80 or char in self.single or bool(
                self.codec and wcwidth(char) == 2 and _double_width_encodable(char, self.codec)
            )
            self._encodable[char] = known
        return known

    def needs_raster(self, text: str) -> bool:
        """True if a printable line holds characters the printer cannot print itself: the
        line is then sent as an image drawn with a font (``receiptd.glyphs``)."""
        return not text.isascii() and not all(self.encodable(c) for c in text)

    def printable(self, text: str) -> str:
        """The text as the paper will show it (``text`` already cleaned): characters the
        printer has, and characters an installed font has (printed as an image); others
        become ``?`` (``??`` if wide), zero-width ones are dropped."""
        if text.isascii():
            return text
        return "".join(self._char(c) if ord(c) >= 0x80 else c for c in text)

    def _char(self, char: str) -> str:
        known = self._cache.get(char)
        if known is not None:
            return known
        width = wcwidth(char)
        if char in self.single:
            result = char
        elif width <= 0:
            result = ""
        elif self.encodable(char) or glyphs.font_for(char, self.lang) is not None:
            result = char
        else:
            result = "?" * width
        self._cache[char] = result
        return result


def _double_width_encodable(char: str, codec: str) -> bool:
    try:
        return len(char.encode(codec)) == 2
    except UnicodeEncodeError:
        return False


@functools.lru_cache(maxsize=32)
def _charset(escpos_profile: str, codec: str | None, lang: str = "SC") -> _Charset:
    return _Charset(escpos_profile, codec, lang)


def _charset_of(profile: Profile) -> _Charset:
    return _charset(
        profile.escpos_profile, profile.double_byte_codec, glyphs.lang_for(profile.double_byte)
    )


def text_width(text: str) -> int:
    """Columns of a printable string (wide characters count 2)."""
    if text.isascii():
        return len(text)
    return sum(max(wcwidth(c), 0) for c in text)


def _cut_to_width(text: str, width: int) -> tuple[str, str]:
    """Split ``text`` after at most ``width`` columns (never inside a wide character)."""
    if text.isascii():
        return text[:width], text[width:]
    used = 0
    for i, char in enumerate(text):
        w = max(wcwidth(char), 0)
        if used + w > width:
            return text[:i], text[i:]
        used += w
    return text, ""


# Line-breaking rules for East Asian text (kinsoku): no line starts with closing punctuation
# or small kana, none ends with opening punctuation.
_NO_LINE_START = frozenset(
    "!%),.:;?]}\u00a2\u00b0\u2019\u201d\u2030\u2032\u2033\u2103\u3001\u3002\u3005"
    "\u3009\u300b\u300d\u300f\u3011\u3015\u3017\u3019\u301f\u3041\u3043\u3045\u3047"
    "\u3049\u3063\u3083\u3085\u3087\u308e\u309b\u309c\u309d\u309e\u30a1\u30a3\u30a5"
    "\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7\u30ee\u30f5\u30f6\u30fb\u30fc\u30fd\u30fe"
    "\uff01\uff05\uff09\uff0c\uff0e\uff1a\uff1b\uff1f\uff3d\uff5d\uff60\uff61\uff63"
    "\uff64\uff9e\uff9f"
)
_NO_LINE_END = frozenset(
    "$([{\u00a3\u00a5\u2018\u201c\u3008\u300a\u300c\u300e\u3010\u3014\u3016\u3018"
    "\u301d\uff04\uff08\uff3b\uff5b\uff5f\uffe1\uffe5"
)


def _can_break_between(before: str, after: str) -> bool:
    """A line may break between two non-space characters if either is wide (CJK text
    has no spaces between words), unless kinsoku forbids it."""
    if before == " " or after == " ":
        return False
    if wcwidth(before) != 2 and wcwidth(after) != 2:
        return False
    return after not in _NO_LINE_START and before not in _NO_LINE_END


def _break_at(head: str, tail: str) -> tuple[str, str] | None:
    """Where to break a line whose first ``width`` columns are ``head``: after the last
    space or CJK break opportunity in it (the space is dropped); ``None`` if there is none."""
    if tail[:1] == " ":
        return head.rstrip(" ") or head, tail[1:]
    if tail and _can_break_between(head[-1], tail[0]):
        return head, tail
    for i in range(len(head) - 1, 0, -1):
        if head[i] == " ":
            return head[:i].rstrip(" ") or head[:i], head[i + 1 :] + tail
        if _can_break_between(head[i - 1], head[i]):
            return head[:i], head[i:] + tail
    return None


def wrap(text: str, width: int) -> list[str]:
    """Wrap printable text to ``width`` columns.

    Lines that fit are kept exactly (spaces too: plain-text receipts align with them). A
    longer line breaks at its last space within the width, or between two characters of
    which one is wide (Chinese, Japanese and Korean text breaks anywhere, bar kinsoku),
    else hard at the width; never inside a wide character.
    """
    width = max(width, 2)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        rest = paragraph
        while text_width(rest) > width:
            head, tail = _cut_to_width(rest, width)
            line, rest = _break_at(head, tail) or (head, tail)
            lines.append(line)
        lines.append(rest)
    return lines


# -- layout: what goes on paper, shared by render, preview and paper estimates ---------------


@dataclass(frozen=True, slots=True)
class Style:
    align: Alignment = "left"
    bold: bool = False
    underline: int = 0
    font: Literal["a", "b"] = "a"
    size: tuple[int, int] = (1, 1)


DEFAULT_STYLE = Style()


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str  # printable: in the printer's character sets, or in a font if ``raster``
    style: Style
    raster: bool = False  # sent as an image: the printer cannot print all of ``text``


@dataclass(frozen=True, slots=True)
class BarcodeItem:
    symbology: str
    data: str  # what was submitted (validated)
    hri_text: str  # the human-readable interpretation (with check digit)
    printer_data: str  # what the barcode command carries
    modules: str  # the bar pattern in dots, "1" = bar
    height: int
    width: int
    hri: str
    align: Alignment


@dataclass(frozen=True, slots=True)
class QrItem:
    data: str
    ec: str
    size: int  # module size in dots after fitting to the paper
    modules: int  # modules across the symbol
    align: Alignment

    @property
    def matrix(self) -> tuple[tuple[bool, ...], ...]:
        return qr_matrix(self.data, self.ec)


@dataclass(frozen=True, slots=True)
class ImageItem:
    bitmap: Image.Image  # mode "1", 1 = black dot, at most width_dots wide
    align: Alignment


@dataclass(frozen=True, slots=True)
class FeedItem:
    lines: int


@dataclass(frozen=True, slots=True)
class CutItem:
    partial: bool


@dataclass(frozen=True, slots=True)
class DrawerItem:
    pin: int


Item = TextLine | BarcodeItem | QrItem | ImageItem | FeedItem | CutItem | DrawerItem


def _columns(profile: Profile, style: Style) -> int:
    base = profile.columns if style.font == "a" else profile.columns_b
    return max(base // style.size[0], 1)


def _line(text: str, style: Style, charset: _Charset) -> TextLine:
    return TextLine(text, style, charset.needs_raster(text))


def _text_lines(text: str, style: Style, profile: Profile, charset: _Charset) -> list[TextLine]:
    printable = charset.printable(clean_text(text, multiline=True))
    return [_line(line, style, charset) for line in wrap(printable, _columns(profile, style))]


def _row_lines(block: RowBlock, profile: Profile, charset: _Charset) -> list[TextLine]:
    style = Style(bold=block.bold)
    cols = profile.columns
    left = charset.printable(clean_text(block.left))
    right = charset.printable(clean_text(block.right))
    rw = text_width(right)
    if rw > cols - min(8, cols // 3):
        # The right text would squeeze the left out: left on its own lines, right below.
        lines = [*wrap(left, cols)] if left else []
        lines += [" " * (cols - text_width(r)) + r for r in wrap(right, cols)]
        return [_line(line, style, charset) for line in lines]
    room = cols - rw - (1 if rw else 0)
    left_lines = wrap(left, room) if left else [""]
    out = []
    for i, line in enumerate(left_lines):
        if i == 0:
            line = line + " " * (cols - text_width(line) - rw) + right
        out.append(_line(line, style, charset))
    return out


def _rule_line(block: RuleBlock, profile: Profile, charset: _Charset) -> TextLine:
    char = charset.printable(clean_text(block.char)) or "?"
    width = max(text_width(char), 1)
    line = char * (profile.columns // width)
    return _line(line + " " * (profile.columns - text_width(line)), DEFAULT_STYLE, charset)


_EAN_LENGTHS = {"EAN13": 13, "EAN8": 8, "UPC-A": 12}
_HW_NAMES = {"CODABAR": "NW7"}


def _check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _barcode_item(block: BarcodeBlock, profile: Profile) -> BarcodeItem:
    sym, data, w = block.symbology, block.data, block.width

    def bad(why: str) -> InvalidDocument:
        return InvalidDocument(f"barcode {sym} {data!r}: {why}")

    if sym in _EAN_LENGTHS:
        n = _EAN_LENGTHS[sym]
        if not data.isdigit() or len(data) not in (n - 1, n):
            raise bad(f"needs {n - 1} digits, or {n} with the check digit")
        body = data[: n - 1]
        if len(data) == n and data[-1] != _check_digit(body):
            raise bad(f"wrong check digit (expected {_check_digit(body)})")
        full = body + _check_digit(body)
        printer_data, hri_text = body, full
        cls = {"EAN13": "ean13", "EAN8": "ean8", "UPC-A": "upca"}[sym]
        modules = get_barcode_class(cls)(body).build()[0]
        modules = "".join(m * w for m in modules)
    elif sym == "CODE128":
        printer_data = "{B" + data.replace("{", "{{")
        hri_text = data
        modules = "".join(m * w for m in get_barcode_class("code128")(data).build()[0])
    elif sym == "CODE39":
        core = data[1:-1] if len(data) > 2 and data[0] == data[-1] == "*" else data
        allowed = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ -.$/+%")
        if not core or any(c not in allowed for c in core):
            raise bad("CODE39 carries only 0-9, A-Z, space and - . $ / + %")
        printer_data, hri_text = core, core
        raw = get_barcode_class("code39")(core, add_checksum=False).build()[0]
        modules = "".join(m * w for m in raw)
    elif sym == "ITF":
        if not data.isdigit() or len(data) % 2:
            raise bad("ITF needs an even number of digits")
        printer_data, hri_text = data, data
        modules = get_barcode_class("itf")(data, narrow=w, wide=math.ceil(w * 2.5)).build()[0]
    else:  # CODABAR
        if not re.fullmatch(r"[A-Da-d][0-9$+\-./:]+[A-Da-d]", data):
            raise bad("CODABAR needs start/stop letters A-D around 0-9 and - $ : / . +")
        printer_data, hri_text = data.upper(), data.upper()
        modules = get_barcode_class("codabar")(
            printer_data, narrow=w, wide=math.ceil(w * 2.5)
        ).build()[0]
    if len(printer_data) > 255:
        raise bad("too long")
    if len(modules) > profile.width_dots:
        raise bad(
            f"is {len(modules)} dots wide at module width {w}; the paper has "
            f"{profile.width_dots} (use a smaller width or shorter data)"
        )
    return BarcodeItem(
        symbology=sym, data=data, hri_text=hri_text, printer_data=printer_data,
        modules=modules, height=block.height, width=w, hri=block.hri, align=block.align,
    )


_QR_EC = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


def _qr_code(data: str, ec: str) -> Any:
    code = qrcode.QRCode(error_correction=_QR_EC[ec], border=0)
    code.add_data(data.encode("utf-8"))
    return code


@functools.lru_cache(maxsize=256)
def qr_modules(data: str, ec: str) -> int:
    """Modules across the QR symbol for ``data`` (version fit only: cheap, no masking)."""
    try:
        version = int(_qr_code(data, ec).best_fit())
    except (DataOverflowError, ValueError) as exc:
        raise InvalidDocument(f"QR data is too long for a QR code at level {ec}") from exc
    return 17 + 4 * version


@functools.lru_cache(maxsize=64)
def qr_matrix(data: str, ec: str) -> tuple[tuple[bool, ...], ...]:
    """The QR symbol's modules (no quiet zone), for raster printing and previews."""
    code = _qr_code(data, ec)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError) as exc:
        raise InvalidDocument(f"QR data is too long for a QR code at level {ec}") from exc
    return tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def _qr_item(block: QrBlock, profile: Profile) -> QrItem:
    modules = qr_modules(block.data, block.ec)
    # Fit the paper with a 2-module quiet zone either side: shrink rather than refuse.
    size = max(1, min(block.size, profile.width_dots // (modules + 4)))
    return QrItem(block.data, block.ec, size, modules, block.align)


def to_bitmap(image: Image.Image, max_width: int) -> Image.Image:
    """Scale down to ``max_width`` if wider, flatten alpha on white, and make a 1-bit image
    with 1 = black dot (as python-escpos' ``EscposImage`` does)."""
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.convert("RGBA").resize((max_width, height), Image.Resampling.LANCZOS)
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.split()[3])
    return ImageOps.invert(flat.convert("L")).convert("1")


def _block_items(block: Any, profile: Profile, charset: _Charset) -> list[Item]:
    if isinstance(block, TextBlock):
        font = block.font if charset.has_font_b else "a"
        style = Style(block.align, block.bold, block.underline, font, block.scale)
        return list(_text_lines(block.text, style, profile, charset))
    if isinstance(block, RowBlock):
        return list(_row_lines(block, profile, charset))
    if isinstance(block, RuleBlock):
        return [_rule_line(block, profile, charset)]
    if isinstance(block, BarcodeBlock):
        return [_barcode_item(block, profile)]
    if isinstance(block, QrBlock):
        return [_qr_item(block, profile)]
    if isinstance(block, ImageBlock):
        return [ImageItem(to_bitmap(block.image, profile.width_dots), block.align)]
    if isinstance(block, FeedBlock):
        return [FeedItem(block.lines)]
    if isinstance(block, CutBlock):
        return [CutItem(block.partial)]
    if isinstance(block, DrawerBlock):
        return [DrawerItem(block.pin)]
    raise InvalidDocument(f"cannot render a {type(block).__name__}")  # pragma: no cover


def layout(content: Content, profile: Profile) -> list[Item] | None:
    """The receipt as printed items; ``None`` for raw content (it is sent as is).

    Plain text is printed left-aligned, wrapped, and followed by a cut. Raises
    ``InvalidDocument`` if something cannot be printed on this printer.
    """
    charset = _charset_of(profile)
    if content.document is not None:
        items: list[Item] = []
        for block in content.document.blocks:
            items.extend(_block_items(block, profile, charset))
        return items
    if content.text is not None:
        return [*_text_lines(content.text, DEFAULT_STYLE, profile, charset), CutItem(False)]
    return None


def marker_lines(marker: str, profile: Profile) -> list[TextLine]:
    """The marker section's lines: a rule of ``=``, the marker centred in bold, a rule."""
    style = Style(align="center", bold=True)
    charset = _charset_of(profile)
    text = charset.printable(clean_text(marker, multiline=True))
    rule = TextLine("=" * profile.columns, style)
    return [rule, *(_line(t, style, charset) for t in wrap(text, profile.columns)), rule]


# -- bytes ----------------------------------------------------------------------------------


def defang(data: bytes) -> bytes:
    """Break ``DLE EOT``/``DLE ENQ``/``DLE DC4`` in raster data by clearing one dot: the
    printer would execute them even inside an image."""
    if b"\x10" not in data:
        return data
    for seq in _REALTIME:
        data = data.replace(seq, b"\x00" + seq[1:])
    return data


def raster(bitmap: Image.Image, align: Alignment, width_dots: int) -> bytes:
    """``GS v 0`` raster bit image, in fragments of 960 rows, aligned by left padding."""
    pad = {"left": 0, "center": (width_dots - bitmap.width) // 2}.get(
        align, width_dots - bitmap.width
    )
    if pad > 0:
        padded = Image.new("1", (bitmap.width + pad, bitmap.height), 0)
        padded.paste(bitmap, (pad, 0))
        bitmap = padded
    width_bytes = (bitmap.width + 7) // 8
    out = []
    for top in range(0, bitmap.height, RASTER_FRAGMENT_ROWS):
        part = bitmap.crop((0, top, bitmap.width, min(top + RASTER_FRAGMENT_ROWS, bitmap.height)))
        out.append(
            GS + b"v0\x00"
            + width_bytes.to_bytes(2, "little")
            + part.height.to_bytes(2, "little")
            + defang(part.tobytes())
        )
    return b"".join(out)


def line_dots(profile: Profile) -> int:
    """The height of one text line (the line spacing) in dots."""
    return round(profile.line_mm * profile.dots_per_mm)


def line_bitmap(line: TextLine, profile: Profile) -> Image.Image:
    """A text line as printer dots (mode "1", 1 = black), ``width_dots`` wide and one line
    (times the character height) high: the characters on the printer's own grid of
    ``CHAR_DOTS`` per column, in the fonts ``receiptd.glyphs`` finds. Used for lines the
    printer cannot print itself (``TextLine.raster``), and by the PNG preview."""
    style = line.style
    columns = profile.columns if style.font == "a" else profile.columns_b
    cell_w, cell_h = CHAR_DOTS[style.font]
    strip = glyphs.draw_line(
        line.text,
        cell=min(float(cell_w), profile.width_dots / columns),
        glyph_height=cell_h,
        height=max(line_dots(profile), cell_h) * style.size[1],
        width=profile.width_dots,
        align=style.align,
        bold=style.bold,
        underline=style.underline,
        scale=style.size,
        lang=glyphs.lang_for(profile.double_byte),
    )
    return glyphs.to_dots(strip)


def _modules_bitmap(modules: str, height: int) -> Image.Image:
    row = Image.new("1", (len(modules), 1), 0)
    row.putdata([1 if m == "1" else 0 for m in modules])
    return row.resize((len(modules), height), Image.Resampling.NEAREST)


def qr_bitmap(item: QrItem, quiet: int = 2) -> Image.Image:
    """The QR code as a 1-bit image (1 = black), with a ``quiet``-module margin."""
    n = len(item.matrix) + 2 * quiet
    img = Image.new("1", (n, n), 0)
    img.putdata([
        1 if (quiet <= y < n - quiet and quiet <= x < n - quiet
              and item.matrix[y - quiet][x - quiet]) else 0
        for y in range(n) for x in range(n)
    ])
    return img.resize((n * item.size, n * item.size), Image.Resampling.NEAREST)


class _Writer:
    """One section's bytes through a python-escpos ``Dummy``, tracking the style state."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.charset = _charset_of(profile)
        self.dummy = Dummy(
            profile=profile.escpos_profile,
            magic_encode_args={
                "encoding": profile.encoding,
                "encoder": self.charset.new_encoder(),
            },
        )
        self.style = DEFAULT_STYLE

    def raw(self, data: bytes) -> None:
        self.dummy._raw(data)

    def set_style(self, style: Style) -> None:
        cur, change = self.style, dict[str, Any]()
        if style.size != cur.size:
            change.update(custom_size=True, width=style.size[0], height=style.size[1])
        if style.bold != cur.bold:
            change["bold"] = style.bold
        if style.underline != cur.underline:
            change["underline"] = style.underline
        if style.font != cur.font:
            change["font"] = style.font
        if style.align != cur.align:
            change["align"] = style.align
        if change:
            self.dummy.set(**change)
        self.style = style

    def line(self, line: TextLine) -> None:
        if line.raster:
            self.set_style(DEFAULT_STYLE)
            self.raw(raster(line_bitmap(line, self.profile), "left", self.profile.width_dots))
            return
        self.set_style(line.style)
        if line.text:
            self.write_text(line.text)
        self.raw(b"\n")

    def write_text(self, text: str) -> None:
        """Printable text (see ``_Charset.printable``): single-byte runs go through
        python-escpos' code page switching, double-byte runs through Kanji mode. ASCII
        prints the same in either mode (every double-byte set here is ASCII-compatible),
        so it stays in the mode it is in: modes switch only where a character needs it."""
        if text.isascii():
            # What python-escpos' encoder yields for ASCII in any code page, without its
            # per-character code page search.
            self.raw(text.encode("ascii"))
            return
        if not self.charset.codec:
            self._single(text)
            return
        codec, double = self.charset.codec, False
        run: list[str] = []
        for char in text:
            is_double = double if char < "\x80" else self.charset.is_double(char)
            if is_double != double and run:
                self._flush(run, double, codec)
                run = []
            run.append(char)
            double = is_double
        if run:
            self._flush(run, double, codec)

    def _flush(self, run: list[str], double: bool, codec: str) -> None:
        chunk = "".join(run)
        if double:
            self.raw(KANJI_ON + chunk.encode(codec) + KANJI_OFF)
        else:
            self._single(chunk)

    def _single(self, text: str) -> None:
        """Single-byte text: in one code page that holds all of it if there is one (fewer
        ``ESC t`` switches than python-escpos' per-character search), else per character."""
        magic = self.dummy.magic
        wanted = frozenset(c for c in text if ord(c) >= 0x80)
        page = self.charset.page_for(wanted, magic.encoding)
        if page is not None:
            magic.write_with_encoding(page, text)
        else:
            self.dummy.text(text)

    def item(self, item: Item) -> None:
        if isinstance(item, TextLine):
            self.line(item)
        elif isinstance(item, BarcodeItem):
            self.barcode(item)
        elif isinstance(item, QrItem):
            self.qr(item)
        elif isinstance(item, ImageItem):
            self.set_style(DEFAULT_STYLE)
            self.raw(raster(item.bitmap, item.align, self.profile.width_dots))
        elif isinstance(item, FeedItem):
            self.dummy.print_and_feed(item.lines)
        elif isinstance(item, CutItem):
            if self.profile.cutter:
                self.dummy.cut(mode="PART" if item.partial else "FULL")
            else:
                self.dummy.print_and_feed(CUT_FEED_LINES)
        elif isinstance(item, DrawerItem):
            self.dummy.cashdraw(item.pin)

    def barcode(self, item: BarcodeItem) -> None:
        supports = self.dummy.profile.supports
        name = _HW_NAMES.get(item.symbology, item.symbology)
        if supports("barcodeB"):
            command = constants.BARCODE_TYPE_B[name] + bytes([len(item.printer_data)])
            tail = b""
        elif supports("barcodeA") and name in constants.BARCODE_TYPE_A:
            command, tail = constants.BARCODE_TYPE_A[name], b"\x00"
        else:
            self._barcode_raster(item)
            return
        # Built here rather than with Escpos.barcode(), which prints to stdout.
        self.set_style(Style(align=item.align))
        hri = {"none": b"\x00", "above": b"\x01", "below": b"\x02", "both": b"\x03"}[item.hri]
        self.raw(
            GS + b"h" + bytes([item.height])
            + GS + b"w" + bytes([item.width])
            + GS + b"f\x00"
            + GS + b"H" + hri
            + command + item.printer_data.encode("ascii") + tail
        )

    def _barcode_raster(self, item: BarcodeItem) -> None:
        hri_line = TextLine(item.hri_text, Style(align=item.align))
        if item.hri in ("above", "both"):
            self.line(hri_line)
        self.set_style(DEFAULT_STYLE)
        bitmap = _modules_bitmap(item.modules, item.height)
        self.raw(raster(bitmap, item.align, self.profile.width_dots))
        if item.hri in ("below", "both"):
            self.line(hri_line)

    def qr(self, item: QrItem) -> None:
        if self.profile.native_qr:
            self.set_style(Style(align=item.align))
            ec = getattr(constants, f"QR_ECLEVEL_{item.ec}")
            self.dummy.qr(item.data, ec=ec, size=item.size, native=True)
        else:
            self.set_style(DEFAULT_STYLE)
            self.raw(raster(qr_bitmap(item), item.align, self.profile.width_dots))

    def finish(self) -> bytes:
        """Return to the prologue's state (style and code page) and hand over the bytes."""
        self.set_style(DEFAULT_STYLE)
        if self.dummy.magic.encoding != self.profile.encoding:
            page = self.profile.code_pages[self.profile.encoding]
            self.raw(constants.CODEPAGE_CHANGE + bytes([page]))
        chunks: list[bytes] = self.dummy._output_list
        return b"".join(chunks)


def prologue(profile: Profile) -> bytes:
    """``ESC @``, the profile's code page (``ESC t n``), and on double-byte printers the
    Kanji code system (``FS C 1`` for Shift_JIS; Chinese and Korean models have one fixed
    set) and Kanji mode off (``FS .``). Note: ``ESC @`` also cancels ``GS a`` (ASB) on many
    printers."""
    code_page = bytes([profile.code_pages[profile.encoding]])
    out: bytes = constants.HW_INIT + constants.CODEPAGE_CHANGE + code_page
    if profile.double_byte == "shift_jis":
        out += KANJI_SHIFT_JIS
    return out + KANJI_OFF if profile.double_byte else out


def marker_section(marker: str | None, profile: Profile) -> bytes:
    """The bytes of a marker (empty for ``None``), framed by ``MARKER_DELIMITER``."""
    if marker is None:
        return b""
    writer = _Writer(profile)
    for line in marker_lines(marker, profile):
        writer.line(line)
    return MARKER_DELIMITER + writer.finish() + MARKER_DELIMITER


def render_body(content: Content, profile: Profile) -> bytes:
    """The receipt's own bytes: the same for the original and every reprint."""
    items = layout(content, profile)
    if items is None:
        return content.raw_bytes()
    writer = _Writer(profile)
    for item in items:
        writer.item(item)
    return writer.finish()


def render(content: Content, profile: Profile, *, marker: str | None = None) -> bytes:
    """ESC/POS bytes for ``content`` on a ``profile`` printer, with an optional marker
    (``copy_marker``/``interrupted_marker``) printed above the receipt.

    ``render(c, p, marker=m) == prologue(p) + marker_section(m, p) + render_body(c, p)``.
    Raises ``InvalidDocument`` if the content cannot be printed on this printer. Raw
    content is passed through unchanged: the caller checks it with ``rawfilter.check_raw``.
    """
    return prologue(profile) + marker_section(marker, profile) + render_body(content, profile)


def split_marker(data: bytes, profile: Profile) -> tuple[bytes, bytes, bytes]:
    """Split a rendering into (prologue, marker section, body); the marker section is
    ``b""`` when there is none. ``ValueError`` if ``data`` is not a rendering for
    ``profile``."""
    head = prologue(profile)
    if not data.startswith(head):
        raise ValueError("not a rendering for this profile: the prologue differs")
    rest = data[len(head) :]
    if not rest.startswith(MARKER_DELIMITER):
        return head, b"", rest
    end = rest.find(MARKER_DELIMITER, len(MARKER_DELIMITER))
    if end < 0:
        raise ValueError("unterminated marker section")
    end += len(MARKER_DELIMITER)
    return head, rest[:end], rest[end:]


# -- markers --------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    """Local wall-clock time: aware datetimes are converted, naive ones taken as local."""
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def copy_marker(copy_number: int, original_printed_at: datetime | None) -> str:
    """``COPY 2 - original printed 2026-11-20 14:03`` (ASCII: not every code page has an
    em dash)."""
    text = f"COPY {copy_number}"
    if original_printed_at is not None:
        text += f" - original printed {_when(original_printed_at)}"
    return text


def interrupted_marker(attempt: int, first_attempt_at: datetime | None) -> str:
    """``*** REPRINT: interrupted ***`` and a line with the attempt and the first try."""
    text = "*** REPRINT: interrupted ***\n" + f"attempt {attempt}"
    if first_attempt_at is not None:
        text += f", first sent {_when(first_attempt_at)}"
    return text


# -- paper ----------------------------------------------------------------------------------


def _item_mm(item: Item, profile: Profile) -> float:
    dpmm, line = profile.dots_per_mm, profile.line_mm
    if isinstance(item, TextLine):
        return line * item.style.size[1]
    if isinstance(item, BarcodeItem):
        hri = {"none": 0, "above": 1, "below": 1, "both": 2}[item.hri]
        return item.height / dpmm + hri * HRI_DOTS / dpmm
    if isinstance(item, QrItem):
        return (item.modules + 4) * item.size / dpmm
    if isinstance(item, ImageItem):
        return item.bitmap.height / dpmm
    if isinstance(item, FeedItem):
        return item.lines * line
    if isinstance(item, CutItem):
        return CUT_FEED_LINES * line
    return 0.0


def paper_length_mm(content: Content, profile: Profile, *, marker: str | None = None) -> float:
    """Estimated paper used, in mm: text lines × line height (× character height), barcode,
    QR and image heights, feeds, and the feed before a cut. Raw content: LF count × line
    height (a rough floor)."""
    extra = 0.0
    if marker is not None:
        extra = len(marker_lines(marker, profile)) * profile.line_mm
    items = layout(content, profile)
    if items is None:
        return extra + max(content.raw_bytes().count(b"\n"), 1) * profile.line_mm
    return extra + sum(_item_mm(i, profile) for i in items)

"""One section of a rendering as ESC/POS bytes, with python-escpos' command builder.

The writer tracks the printer's style and code page, so it sends a mode command only where
the next item needs another one, and ``finish`` returns the printer to the prologue's state:
each section's bytes then depend only on its own items. Each run of single-byte text goes in
a code page of the printer that holds it (``ESC t``, switched only where needed); wide
characters of the profile's double-byte set go between ``FS &`` and ``FS .``; a line the
printer cannot print itself goes as a raster image drawn with an installed font.

What python-escpos emits for a style change, a feed, a cut or a drawer kick depends only on
the printer model and the call, so each is asked of it once per model and call
(``_escpos_bytes``); its ``Dummy``, which carries the code page state of the text, is made
only when a section has text that is not ASCII (or a barcode). Native QR codes are built here
(``qr_native``), as python-escpos builds them.
"""

from __future__ import annotations

import functools
from typing import Any

from receiptd.render.codes import HW_NAMES
from receiptd.render.escpos import Dummy, constants
from receiptd.render.items import (
    CUT_FEED_LINES,
    DEFAULT_STYLE,
    BarcodeItem,
    CutItem,
    DrawerItem,
    FeedItem,
    ImageItem,
    Item,
    QrItem,
    Style,
    TextLine,
)
from receiptd.render.profiles import Profile
from receiptd.render.raster import line_bitmap, modules_bitmap, qr_bitmap, raster
from receiptd.render.text import charset_of

__all__ = ["KANJI_OFF", "KANJI_ON", "Writer", "qr_native"]

GS, FS = b"\x1d", b"\x1c"
KANJI_ON, KANJI_OFF = FS + b"&", FS + b"."
_QR_MODEL_2 = b"2\x00"  # GS ( k fn 65: model 2
_QR_EC = {"L": b"0", "M": b"1", "Q": b"2", "H": b"3"}  # GS ( k fn 69: 48 + level


@functools.lru_cache(maxsize=1024)
def _escpos_bytes(escpos_profile: str, call: str, *args: Any, **kwargs: Any) -> bytes:
    """What python-escpos' ``Dummy.<call>(*args, **kwargs)`` emits on this printer model: a
    pure function of the model and the call (none of these reads or changes the text's
    state)."""
    dummy = Dummy(profile=escpos_profile)
    getattr(dummy, call)(*args, **kwargs)
    chunks: list[bytes] = dummy._output_list
    return b"".join(chunks)


@functools.lru_cache(maxsize=4096)
def _style_change(escpos_profile: str, cur: Style, style: Style) -> bytes:
    """The mode commands from ``cur`` to ``style``: python-escpos' ``set`` with the
    settings that differ, in its order (size, bold, underline, font, alignment)."""
    change = dict[str, Any]()
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
    return _escpos_bytes(escpos_profile, "set", **change) if change else b""


def _two_d(fn: int, data: bytes, m: bytes = b"") -> bytes:
    """``GS ( k pL pH cn fn [m] data`` for a QR code (cn 49): pL pH count cn, fn, m, data."""
    n = len(data) + len(m) + 2
    return GS + b"(k" + bytes([n & 0xFF, n >> 8]) + b"1" + bytes([fn]) + m + data


def qr_native(data: str, ec: str, size: int) -> bytes:
    """The printer's own QR code (model 2, ``size`` dots a module, level ``ec``): select the
    model (fn 65), the module size (fn 67) and the level (fn 69), store the data (fn 80)
    and print it (fn 81). Data is UTF-8: a document's (at most 4,096 characters) fits the
    two-byte length. Nothing for no data, as python-escpos does."""
    if not data:
        return b""
    return (_two_d(65, _QR_MODEL_2) + _two_d(67, bytes([size])) + _two_d(69, _QR_EC[ec])
            + _two_d(80, data.encode("utf-8"), b"0") + _two_d(81, b"", b"0"))


class Writer:
    """One section's bytes, tracking the style state (and, through a python-escpos
    ``Dummy`` made when first needed, the code page)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.charset = charset_of(profile)
        self._dummy: Any = None
        self._out: list[bytes] = []
        self.style = DEFAULT_STYLE

    @property
    def dummy(self) -> Any:
        """python-escpos' builder for text in code pages (its encoder keeps the code page it
        switched to), writing into this section's bytes."""
        if self._dummy is None:
            profile = self.profile
            self._dummy = Dummy(
                profile=profile.escpos_profile,
                magic_encode_args={
                    "encoding": profile.encoding,
                    "encoder": self.charset.new_encoder(),
                },
            )
            self._dummy._output_list = self._out
        return self._dummy

    def raw(self, data: bytes) -> None:
        self._out.append(data)

    def set_style(self, style: Style) -> None:
        cur = self.style
        if style is cur or style == cur:
            return
        self._out.append(_style_change(self.profile.escpos_profile, cur, style))
        self.style = style

    def line(self, line: TextLine) -> None:
        if line.raster:
            self.set_style(DEFAULT_STYLE)
            self.raw(raster(line_bitmap(line, self.profile), "left", self.profile.width_dots))
            return
        self.set_style(line.style)
        self.write_text(line.text)
        self._out.append(b"\n")

    def write_text(self, text: str) -> None:
        """Printable text (see ``Charset.printable``): single-byte runs go through
        python-escpos' code page switching, double-byte runs through Kanji mode. ASCII
        prints the same in either mode (every double-byte set here is ASCII-compatible),
        so it stays in the mode it is in: modes switch only where a character needs it."""
        if text.isascii():
            # What python-escpos' encoder yields for ASCII in any code page, without its
            # per-character code page search.
            self._out.append(text.encode("ascii"))
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
            self._escpos("print_and_feed", item.lines)
        elif isinstance(item, CutItem):
            if self.profile.cutter:
                self._escpos("cut", "PART" if item.partial else "FULL")
            else:
                self._escpos("print_and_feed", CUT_FEED_LINES)
        elif isinstance(item, DrawerItem):
            self._escpos("cashdraw", item.pin)

    def _escpos(self, call: str, *args: Any) -> None:
        self._out.append(_escpos_bytes(self.profile.escpos_profile, call, *args))

    def barcode(self, item: BarcodeItem) -> None:
        supports = self.dummy.profile.supports
        name = HW_NAMES.get(item.symbology, item.symbology)
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
        bitmap = modules_bitmap(item.modules, item.height)
        self.raw(raster(bitmap, item.align, self.profile.width_dots))
        if item.hri in ("below", "both"):
            self.line(hri_line)

    def qr(self, item: QrItem) -> None:
        if self.profile.native_qr:
            self.set_style(Style(align=item.align))
            self.raw(qr_native(item.data, item.ec, item.size))
        else:
            self.set_style(DEFAULT_STYLE)
            self.raw(raster(qr_bitmap(item), item.align, self.profile.width_dots))

    def finish(self) -> bytes:
        """Return to the prologue's state (style and code page) and hand over the bytes."""
        self.set_style(DEFAULT_STYLE)
        if self._dummy is not None and self._dummy.magic.encoding != self.profile.encoding:
            page = self.profile.code_pages[self.profile.encoding]
            self.raw(constants.CODEPAGE_CHANGE + bytes([page]))
        return b"".join(self._out)

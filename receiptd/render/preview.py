"""What a receipt will look like: as the text a transcript of the slip shows, and as an
image at the paper width in printer dots.

Both previews come from the same layout as the printer bytes (``receiptd.render.layout``):
the same cleaned and wrapped text, the same characters drawn in the same fonts (the one
receiptd ships, so a fresh machine shows Chinese, Japanese and Korean, not ``?``), the same
scaled images and fitted QR codes. Previews show journaled receipts: one accepted before
unprintable text was refused shows ``?`` where its paper had one, instead of failing.
"""

from __future__ import annotations

import contextlib
import functools
import io

from PIL import Image, ImageDraw, ImageFont, ImageOps, features

from receiptd.document import Content
from receiptd.render import fonts, glyphs
from receiptd.render.items import (
    CUT_FEED_LINES,
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
from receiptd.render.layout import layout, marker_lines
from receiptd.render.profiles import Profile
from receiptd.render.raster import CHAR_DOTS, line_bitmap, line_dots, qr_bitmap
from receiptd.render.text import clean_text, substitute_unprintable, text_width

__all__ = ["preview_png", "preview_text"]

MARGIN_DOTS = 16


# -- text -----------------------------------------------------------------------------------


def _place(text: str, align: str, width: int, columns: int) -> str:
    """``text`` (``width`` columns wide on paper) placed on a line of ``columns``."""
    room = max(columns - width, 0)
    pad = {"left": 0, "center": room // 2}.get(align, room)
    return (" " * pad + text).rstrip()


def _line_text(line: TextLine, profile: Profile) -> str:
    style = line.style
    columns = profile.columns if style.font == "a" else profile.columns_b
    return _place(line.text, style.align, text_width(line.text) * style.size[0], columns)


def _item_text(item: Item, profile: Profile) -> list[str]:
    cols = profile.columns
    if isinstance(item, TextLine):
        return [_line_text(item, profile)]
    if isinstance(item, BarcodeItem):
        label = f"[BARCODE {item.symbology} {item.hri_text}]"
        return [_place(label, item.align, len(label), cols)]
    if isinstance(item, QrItem):
        label = f"[QR {clean_text(item.data)}]"
        return [_place(label, item.align, text_width(label), cols)]
    if isinstance(item, ImageItem):
        label = f"[IMAGE {item.bitmap.width}x{item.bitmap.height}]"
        return [_place(label, item.align, len(label), cols)]
    if isinstance(item, FeedItem):
        return [""] * item.lines
    if isinstance(item, CutItem):
        return ["[PARTIAL CUT]" if item.partial else "[CUT]"]
    if isinstance(item, DrawerItem):
        return ["[DRAWER]"]
    raise TypeError(item)  # pragma: no cover


def preview_text(content: Content, profile: Profile, *, marker: str | None = None) -> str:
    """The slip as plain text, ``profile.columns`` wide: alignment applied, rows padded,
    rules drawn, and ``[BARCODE CODE128 123]``, ``[QR …]``, ``[IMAGE WxH]``, ``[CUT]``,
    ``[DRAWER]`` for what is not text. Raw content shows as ``[RAW n bytes]``.
    Raises ``InvalidDocument`` like ``render``."""
    lines: list[str] = []
    with substitute_unprintable():
        if marker is not None:
            lines += [_line_text(line, profile) for line in marker_lines(marker, profile)]
        items = layout(content, profile)
    if items is None:
        lines.append(f"[RAW {len(content.raw_bytes())} bytes]")
    else:
        for item in items:
            lines += _item_text(item, profile)
    return "\n".join(lines) + "\n"


# -- image ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The ``?`` of a character no font has (only in receipts journaled before such text was
    refused): in the shipped font, else Pillow's own."""
    shipped = fonts.packaged()
    if shipped is not None:
        with contextlib.suppress(OSError):
            return ImageFont.truetype(shipped.path, pixels, index=shipped.index)
    if features.check("freetype2"):
        return ImageFont.load_default(size=pixels)
    return ImageFont.load_default()


def _aligned(strip_height: int, piece: Image.Image, align: str, width: int) -> Image.Image:
    strip = Image.new("L", (width, strip_height), 255)
    room = max(width - piece.width, 0)
    x = {"left": 0, "center": room // 2}.get(align, room)
    strip.paste(piece, (x, (strip_height - piece.height) // 2))
    return strip


def _text_strip(text: str, style: Style, profile: Profile) -> Image.Image:
    """A line as the printer draws it: on its character grid (wide characters over two
    columns), each character in the font ``receiptd.render.glyphs`` picks for it (the shipped
    one, or Noto CJK, Symbola, DejaVu), scaled and aligned as the printer scales
    characters."""
    columns = profile.columns if style.font == "a" else profile.columns_b
    cell_w, glyph = CHAR_DOTS[style.font]
    line = line_dots(profile)
    return glyphs.draw_line(
        text,
        cell=min(float(cell_w), profile.width_dots / columns),
        glyph_height=glyph,
        height=max(line * style.size[1], glyph * style.size[1] + 6),
        width=profile.width_dots,
        align=style.align,
        bold=style.bold,
        underline=style.underline,
        scale=style.size,
        lang=glyphs.lang_for(profile.double_byte),
        fallback=_font(max(8, round(glyph * 0.85))),
    )


def _display(bitmap: Image.Image) -> Image.Image:
    """A printer bitmap (1 = black dot) as a greyscale picture."""
    return ImageOps.invert(bitmap.convert("L"))


def _barcode_strips(item: BarcodeItem, profile: Profile) -> list[Image.Image]:
    bars = Image.new("L", (len(item.modules), item.height), 255)
    bars.putdata([0 if m == "1" else 255 for m in item.modules] * item.height)
    # A quiet zone of 10 modules either side, as a scanner needs and the paper gives.
    quiet = 10 * item.width
    piece = Image.new("L", (bars.width + 2 * quiet, bars.height + 8), 255)
    piece.paste(bars, (quiet, 4))
    strips = [_aligned(piece.height, piece, item.align, profile.width_dots)]
    hri = _text_strip(item.hri_text, Style(align=item.align), profile)
    if item.hri in ("above", "both"):
        strips.insert(0, hri)
    if item.hri in ("below", "both"):
        strips.append(hri)
    return strips


def _item_strips(item: Item, profile: Profile) -> list[Image.Image]:
    width, line = profile.width_dots, line_dots(profile)
    if isinstance(item, TextLine):
        if item.raster:  # exactly the dots the printer gets
            piece = _display(line_bitmap(item, profile))
            return [_aligned(piece.height, piece, "left", width)]
        return [_text_strip(item.text, item.style, profile)]
    if isinstance(item, BarcodeItem):
        return _barcode_strips(item, profile)
    if isinstance(item, QrItem):
        piece = _display(qr_bitmap(item))
        return [_aligned(piece.height, piece, item.align, width)]
    if isinstance(item, ImageItem):
        piece = _display(item.bitmap)
        return [_aligned(piece.height, piece, item.align, width)]
    if isinstance(item, FeedItem):
        return [Image.new("L", (width, line * item.lines), 255)]
    if isinstance(item, CutItem):
        strip = Image.new("L", (width, line * CUT_FEED_LINES + 9), 255)
        draw = ImageDraw.Draw(strip)
        y = strip.height - 5
        for x in range(0, width, 12):
            draw.line((x, y, x + 6, y), fill=0, width=1 if item.partial else 2)
        return [strip]
    return []  # the drawer kick prints nothing


def preview_png(content: Content, profile: Profile, *, marker: str | None = None) -> bytes:
    """A PNG of the slip, ``profile.width_dots`` wide: text on the printer's character
    grid, real barcodes and QR codes (scannable), images as the
    printer's 1-bit rasters, a dashed line where it cuts. Raises ``InvalidDocument`` like
    ``render``."""
    strips: list[Image.Image] = []
    with substitute_unprintable():
        marked = marker_lines(marker, profile) if marker is not None else []
        items = layout(content, profile)
    for line in marked:
        strips += _item_strips(line, profile)
    if items is None:
        text = f"[RAW {len(content.raw_bytes())} bytes]"
        strips.append(_text_strip(text, Style(align="center"), profile))
    else:
        for item in items:
            strips += _item_strips(item, profile)
    height = sum(s.height for s in strips) + 2 * MARGIN_DOTS
    page = Image.new("L", (profile.width_dots, height), 255)
    y = MARGIN_DOTS
    for strip in strips:
        page.paste(strip, (0, y))
        y += strip.height
    out = io.BytesIO()
    page.save(out, format="PNG", optimize=True)
    return out.getvalue()

"""Printer dots: pictures, QR codes, bars and font-drawn lines as 1-bit bitmaps (1 = black
dot), and the ``GS v 0`` raster command that prints them.

Raster data is de-fanged so that it cannot carry a real-time command (``DLE EOT``/``ENQ``/
``DC4``): the printer executes those as soon as the bytes arrive, even inside an image.
"""

from __future__ import annotations

from PIL import Image, ImageOps

from receiptd.render import glyphs
from receiptd.render.items import Alignment, QrItem, TextLine
from receiptd.render.profiles import Profile

__all__ = [
    "CHAR_DOTS",
    "defang",
    "line_bitmap",
    "line_dots",
    "modules_bitmap",
    "qr_bitmap",
    "raster",
    "to_bitmap",
]

GS = b"\x1d"
RASTER_FRAGMENT_ROWS = 960
CHAR_DOTS = {"a": (12, 24), "b": (9, 17)}  # character cell (width, height) of fonts A and B
_REALTIME = (b"\x10\x04", b"\x10\x05", b"\x10\x14")  # DLE EOT, DLE ENQ, DLE DC4


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
    ``CHAR_DOTS`` per column, in the fonts ``receiptd.render.glyphs`` finds. Used for lines the
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


def modules_bitmap(modules: str, height: int) -> Image.Image:
    """A barcode's bar pattern (``"1"`` = bar) as bars ``height`` dots high."""
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


"""Fonts for the text a printer cannot print itself, and the line images drawn with them.

A character that none of the printer's code pages holds and its double-byte character set
(if any) does not either — Hangul on a Chinese printer, kana on a Latin one, emoji anywhere —
would print as ``?``. Instead, the whole line it is on is drawn on the printer's character grid
(``wcwidth`` columns, the profile's dots per column) in a real font and sent as a raster image,
so it keeps its place in the layout.

Two sources of fonts. The one receiptd ships (``fonts``: WenQuanYi Micro Hei, for Chinese,
Japanese, Korean and Latin) is always there, so a fresh machine prints CJK text. The
machine's own fonts (found through fontconfig, ``fc-list``, one call per process, with each
font's character coverage) come first when ``use_system_fonts`` allows them (the default),
for the scripts and symbols the shipped font lacks and for the regional glyph forms of Noto
CJK. Debian packages: ``fonts-noto-cjk`` (Chinese, Japanese, Korean in their regional
forms), ``fonts-symbola`` (symbols, emoji in black and white; ``fonts-noto-color-emoji`` is
used only as a last resort, as its glyphs are bitmaps). Without system fonts the output is the
same on every machine.

Glyphs are drawn in one bit with the font's hinting (not drawn in grey and thresholded):
strokes land on whole dots, which keeps 17-dot Chinese legible.
"""

from __future__ import annotations

import bisect
import functools
import math
import shutil
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from receiptd.render import fonts

if TYPE_CHECKING:  # PIL is imported by the first drawing, not by the daemon's start
    from PIL import Image, ImageFont

__all__ = [
    "FONT_PACKAGES",
    "FontRef",
    "draw_line",
    "font_for",
    "fonts_available",
    "lang_for",
    "shipped_font",
    "system_fonts",
    "to_dots",
    "use_system_fonts",
]

log = structlog.get_logger("receiptd.glyphs")

FONT_PACKAGES = "fonts-noto-cjk fonts-symbola"
COLOR_BITMAP_PX = 109  # the one strike size of Noto Color Emoji (CBDT)
_FC_FORMAT = "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\t%{color}\t%{charset}\n"
_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
_REGULAR = {"regular", "book", "normal", "roman"}
_FREETYPE_LOCK = threading.Lock()
_LANGS = {"gb18030": "SC", "big5": "TC", "shift_jis": "JP", "ksc5601": "KR"}


@dataclass(frozen=True, slots=True)
class FontRef:
    path: str
    index: int
    family: str
    color: bool = False


@dataclass(frozen=True, slots=True)
class _Font:
    ref: FontRef
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def covers(self, code: int) -> bool:
        i = bisect.bisect_right(self.starts, code) - 1
        return i >= 0 and code <= self.ends[i]


def _parse_charset(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    starts, ends = [], []
    for part in text.split():
        lo, _, hi = part.partition("-")
        try:
            starts.append(int(lo, 16))
            ends.append(int(hi or lo, 16))
        except ValueError:
            continue
    return tuple(starts), tuple(ends)


_system_fonts = True


def use_system_fonts(enabled: bool) -> None:
    """Let the machine's fonts draw (``True``, the default) or only the shipped one
    (``False``: the same images on every machine). Set once at start-up, before printing."""
    global _system_fonts
    _system_fonts = enabled
    font_for.cache_clear()


def system_fonts() -> bool:
    """Whether the machine's fonts are used (``use_system_fonts``)."""
    return _system_fonts


@functools.cache
def _installed() -> tuple[_Font, ...]:
    """Regular-style outline fonts that fontconfig knows, with their coverage."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ()
    try:
        out = subprocess.run(
            [fc_list, "-f", _FC_FORMAT], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    found = []
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) != 6:
            continue
        path, index, family, style, color, charset = fields
        if not path.lower().endswith(_SUFFIXES) or style.lower() not in _REGULAR:
            continue
        starts, ends = _parse_charset(charset)
        ref = FontRef(path, int(index or 0), family, color.strip().lower() == "true")
        found.append(_Font(ref, starts, ends))
    return tuple(sorted(found, key=lambda f: (f.ref.path, f.ref.index)))


@functools.cache
def _packaged() -> _Font | None:
    """The font receiptd ships (``None`` if the install lost it)."""
    font = fonts.packaged()
    if font is None:
        return None
    ref = FontRef(font.path, font.index, font.family)
    return _Font(ref, font.coverage.starts, font.coverage.ends)


def shipped_font() -> FontRef | None:
    """The font receiptd ships, ``None`` if this install lost it."""
    shipped = _packaged()
    return shipped.ref if shipped is not None else None


def _candidates() -> tuple[_Font, ...]:
    shipped = _packaged()
    return (*(_installed() if _system_fonts else ()), *((shipped,) if shipped else ()))


def lang_for(double_byte: str | None) -> str:
    """Which regional Noto CJK face suits a printer: its double-byte set's region, else SC."""
    return _LANGS.get(double_byte or "", "SC")


def _rank(ref: FontRef, lang: str, symbol: bool, wide: bool = False) -> tuple[int, str]:
    """Lower is better: Noto CJK of the printer's region, the Latin and symbol fonts, then
    the shipped font, then any other font (colour bitmap fonts last). For a wide (CJK)
    character the Latin and symbol fonts come after the shipped one: Symbola, for one, has
    a few ideographs, and a line of Chinese must not come out in two typefaces."""
    latin = ("DejaVu Sans Mono", "DejaVu Sans", "Noto Sans")
    cjk = (f"Noto Sans Mono CJK {lang}", f"Noto Sans CJK {lang}", "Noto Sans Mono CJK",
           "Noto Sans CJK")
    preferred = (*cjk, *(() if wide else (("Symbola", *latin) if symbol
                                          else (*latin, "Symbola"))))
    for i, name in enumerate(preferred):
        if ref.family == name or (name.endswith("CJK") and ref.family.startswith(name)):
            return (i, ref.family)
    shipped = _packaged()
    if shipped is not None and ref == shipped.ref:
        return (len(preferred), ref.family)
    return (len(preferred) + 1 + (50 if ref.color else 0), ref.family)


@functools.lru_cache(maxsize=8192)
def font_for(char: str, lang: str = "SC") -> FontRef | None:
    """The best font that has a glyph for ``char``: the shipped one or, if allowed, one of
    the machine's; ``None`` (logged once per character) if there is none."""
    code = ord(char)
    covering = [f.ref for f in _candidates() if f.covers(code)]
    if covering:
        # Symbols and emoji: Symbola draws them whole; DejaVu's are small or partial.
        symbol = code >= 0x2100 and unicodedata.category(char) == "So"
        wide = unicodedata.east_asian_width(char) in ("W", "F") and not symbol
        return min(covering, key=lambda ref: _rank(ref, lang, symbol, wide))
    log.info(
        "no_font_for_character", char=char, codepoint=f"U+{code:04X}",
        system_fonts=_system_fonts, shipped_font=_packaged() is not None,
        hint=f"text with it is refused: install a font that has it (Debian: {FONT_PACKAGES})",
    )
    return None


def fonts_available(text: str, lang: str = "SC") -> bool:
    """True if every non-ASCII printable character of ``text`` has a font."""
    return all(font_for(c, lang) is not None for c in set(text) if ord(c) >= 0x80)


@functools.lru_cache(maxsize=64)
def _load(ref: FontRef, pixels: int) -> tuple[ImageFont.FreeTypeFont, float]:
    """The font at ``pixels`` and the scale to apply to what it draws (bitmap-only color
    fonts exist in one size and are drawn large, then scaled)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(ref.path, pixels, index=ref.index), 1.0
    except OSError:
        font = ImageFont.truetype(ref.path, COLOR_BITMAP_PX, index=ref.index)
        return font, pixels / COLOR_BITMAP_PX


@functools.lru_cache(maxsize=4096)
def _glyph(char: str, ref: FontRef, box: tuple[int, int], pixels: int) -> Image.Image:
    """``char`` drawn black on white ("L"), centred in a ``box`` of dots (cached: callers
    only read it)."""
    with _FREETYPE_LOCK:  # one FreeType face is shared by the API and spooler threads
        return _draw_glyph(char, ref, box, pixels)


def _draw_glyph(char: str, ref: FontRef, box: tuple[int, int], pixels: int) -> Image.Image:
    from PIL import Image, ImageDraw

    font, scale = _load(ref, pixels)
    w, h = box
    big = (max(1, math.ceil(w / scale)), max(1, math.ceil(h / scale)))
    img = Image.new("RGBA" if ref.color else "L", big, "white")
    draw = ImageDraw.Draw(img)
    if not ref.color:
        draw.fontmode = "1"  # hinted one-bit glyphs: whole-dot strokes, no grey to threshold
    draw.text((big[0] / 2, big[1] / 2), char, font=font, anchor="mm", fill="black",
              embedded_color=ref.color)
    glyph = img.convert("L")
    if glyph.size != box:
        glyph = glyph.resize(box, Image.Resampling.LANCZOS)
    return glyph


def draw_line(
    text: str,
    *,
    cell: float,
    glyph_height: int,
    height: int,
    width: int,
    align: str = "left",
    bold: bool = False,
    underline: int = 0,
    scale: tuple[int, int] = (1, 1),
    lang: str = "SC",
    fallback: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = None,
) -> Image.Image:
    """One line of text as a greyscale strip (``width`` x ``height``, black on white).

    Characters sit on a grid of ``cell`` dots per ``wcwidth`` column, as the printer places
    its own characters; the line is scaled by ``scale`` (the printer's character size) and
    aligned in ``width``. A character without any font (the renderer refuses such text, so
    only a preview of an older receipt meets one) is drawn as ``?`` with ``fallback``.
    """
    from PIL import Image, ImageDraw
    from wcwidth import wcwidth

    columns = sum(max(wcwidth(c), 0) for c in text)
    piece = Image.new("L", (max(1, math.ceil(columns * cell)), glyph_height), 255)
    pixels = max(8, glyph_height - 2)
    col = 0
    for char in text:
        w = max(wcwidth(char), 0)
        if w and char != " ":
            x0 = round(col * cell)
            box = (max(1, round((col + w) * cell) - x0), glyph_height)
            ref = font_for(char, lang)
            if ref is None:
                glyph = Image.new("L", box, 255)
                ImageDraw.Draw(glyph).text((box[0] / 2, box[1] / 2), "?" * w, anchor="mm",
                                           fill=0, font=fallback)
            else:
                glyph = _glyph(char, ref, box, pixels)
            ink = _ink(glyph)
            piece.paste(glyph, (x0, 0), ink)
            if bold:
                piece.paste(glyph, (x0 + 1, 0), ink)
        col += w
    if underline:
        ImageDraw.Draw(piece).rectangle(
            (0, glyph_height - underline, piece.width, glyph_height - 1), fill=0
        )
    if scale != (1, 1):
        piece = piece.resize((piece.width * scale[0], glyph_height * scale[1]),
                             Image.Resampling.NEAREST)
    strip = Image.new("L", (width, max(height, piece.height)), 255)
    room = max(width - piece.width, 0)
    x = {"left": 0, "center": room // 2}.get(align, room)
    strip.paste(piece.crop((0, 0, min(piece.width, width), piece.height)),
                (x, (strip.height - piece.height) // 2))
    return strip


def _ink(glyph: Image.Image) -> Image.Image:
    """A paste mask that only lays down the glyph's ink (so neighbours do not erase it)."""
    return glyph.point(lambda v: 255 - v)


def to_dots(strip: Image.Image) -> Image.Image:
    """A greyscale strip as printer dots: mode "1", 1 = black (threshold, no dithering:
    dithered text is unreadable at 8 dots per mm)."""
    return strip.point(lambda v: 255 if v < 128 else 0).convert("1")

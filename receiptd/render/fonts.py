"""The font receiptd ships, and what any font file covers, read from the file itself.

A printer without a double-byte character set cannot print Chinese, and none prints Hangul
on a Chinese model: those lines are drawn in a font and sent as an image (``glyphs``). A
fresh machine often has no CJK font at all, so receiptd carries one in its package:
WenQuanYi Micro Hei (``receiptd/fonts``, Apache 2.0, 5 MB): GB2312, Big5, JIS X 0208 and
every Hangul syllable, hinted so that it stays legible drawn in one bit at the printer's
24- and 17-dot character heights (a bitmap font such as Unifont is crisp at 16 dots but
blotchy when scaled to 24).

Nothing here runs at import: the file is opened on the first line that needs it, so an idle
daemon (or one whose printers print everything themselves) does not pay for it.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import structlog

__all__ = ["PACKAGED_FAMILY", "Coverage", "cmap_coverage", "packaged", "packaged_path"]

log = structlog.get_logger("receiptd.fonts")

PACKAGED_FILE = "wqy-microhei.ttc"
PACKAGED_INDEX = 1  # the collection's second face, Micro Hei Mono: Latin fits half a cell
PACKAGED_FAMILY = "WenQuanYi Micro Hei Mono"


@dataclass(frozen=True, slots=True)
class Coverage:
    """Code point ranges (inclusive, sorted) a font has glyphs for."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __len__(self) -> int:
        return sum(e - s + 1 for s, e in zip(self.starts, self.ends, strict=True))


@dataclass(frozen=True, slots=True)
class Packaged:
    path: str
    index: int
    family: str
    coverage: Coverage


def packaged_path() -> Path:
    """Where the shipped font file is (whether or not it is there)."""
    return Path(str(resources.files("receiptd").joinpath("fonts", PACKAGED_FILE)))


@functools.cache
def packaged() -> Packaged | None:
    """The shipped font and its coverage; ``None`` (logged once) if the file is missing or
    unreadable: an install that lost its package data."""
    path = packaged_path()
    try:
        coverage = cmap_coverage(path, PACKAGED_INDEX)
    except (OSError, ValueError, struct.error) as exc:
        log.error("packaged_font_missing", path=str(path), error=str(exc),
                  hint="reinstall receiptd: its wheel carries this font")
        return None
    return Packaged(str(path), PACKAGED_INDEX, PACKAGED_FAMILY, coverage)


# -- reading a font's character map ---------------------------------------------------------


def cmap_coverage(path: Path | str, index: int = 0) -> Coverage:
    """The code points face ``index`` of a TrueType/OpenType file (or collection) maps to a
    glyph, from its ``cmap`` table (Unicode subtables, formats 4 and 12). Reads only the
    headers and that table. Raises ``ValueError`` for a file that is not such a font."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] == b"ttcf":
            count = struct.unpack(">I", head[8:12])[0]
            if not 0 <= index < count:
                raise ValueError(f"{path}: no face {index} (it has {count})")
            f.seek(12 + 4 * index)
            (offset,) = struct.unpack(">I", f.read(4))
        else:
            offset = 0
        f.seek(offset)
        sfnt = f.read(12)
        if len(sfnt) < 12 or sfnt[:4] not in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
            raise ValueError(f"{path}: not a TrueType or OpenType font")
        (tables,) = struct.unpack(">H", sfnt[4:6])
        records = f.read(16 * tables)
        for i in range(tables):
            tag, _, where, length = struct.unpack(">4sIII", records[16 * i:16 * i + 16])
            if tag == b"cmap":
                f.seek(where)
                return _coverage(f.read(length))
    raise ValueError(f"{path}: no cmap table")


def _coverage(cmap: bytes) -> Coverage:
    (count,) = struct.unpack(">H", cmap[2:4])
    subtables: dict[tuple[int, int], int] = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack(">HHI", cmap[4 + 8 * i:12 + 8 * i])
        subtables[(platform, encoding)] = offset
    # Full Unicode (format 12) first, then the BMP (format 4).
    for key in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
        if key in subtables:
            offset = subtables[key]
            (fmt,) = struct.unpack(">H", cmap[offset:offset + 2])
            if fmt == 12:
                return _ranges(_format12(cmap, offset))
            if fmt == 4:
                return _ranges(_format4(cmap, offset))
    raise ValueError("no Unicode character map of format 4 or 12")


def _format12(cmap: bytes, offset: int) -> list[tuple[int, int]]:
    (groups,) = struct.unpack(">I", cmap[offset + 12:offset + 16])
    out = []
    for i in range(groups):
        start, end, glyph = struct.unpack(">III", cmap[offset + 16 + 12 * i:offset + 28 + 12 * i])
        if glyph == 0:  # the group's first code point maps to .notdef: not a glyph
            start += 1
        if start <= end:
            out.append((start, end))
    return out


def _format4(cmap: bytes, offset: int) -> list[tuple[int, int]]:
    (seg2,) = struct.unpack(">H", cmap[offset + 6:offset + 8])
    n = seg2 // 2
    base = offset + 14
    ends = struct.unpack(f">{n}H", cmap[base:base + seg2])
    starts = struct.unpack(f">{n}H", cmap[base + seg2 + 2:base + 2 * seg2 + 2])
    deltas = struct.unpack(f">{n}h", cmap[base + 2 * seg2 + 2:base + 3 * seg2 + 2])
    range_at = base + 3 * seg2 + 2
    range_offsets = struct.unpack(f">{n}H", cmap[range_at:range_at + seg2])
    out = []
    for i in range(n):
        start, end = starts[i], ends[i]
        if start == 0xFFFF:
            continue
        if range_offsets[i] == 0:
            # glyph = (code + delta) mod 65536: only the one code point that lands on 0 is empty
            hole = (-deltas[i]) % 0x10000
            out += [(s, e) for s, e in ((start, min(end, hole - 1)),
                                        (max(start, hole + 1), end)) if s <= e]
            continue
        first = range_at + 2 * i + range_offsets[i]
        for code in range(start, end + 1):
            at = first + 2 * (code - start)
            (glyph,) = struct.unpack(">H", cmap[at:at + 2])
            if glyph:
                out.append((code, code))
    return out


def _ranges(pairs: list[tuple[int, int]]) -> Coverage:
    """Sorted, merged ranges."""
    merged: list[list[int]] = []
    for start, end in sorted(pairs):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return Coverage(tuple(s for s, _ in merged), tuple(e for _, e in merged))

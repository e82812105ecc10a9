"""Text in raw input as a double-byte printer reads it.

The walk reads text one byte per character. A printer in a double-byte character mode reads
some bytes as the first of a two- or four-byte character instead, and a character that starts
near the end of a run of text takes the bytes after the run with it: an ``ESC``, ``GS`` or
``FS`` that the walk took for a command is then part of a character, and the bytes the walk
skipped as that command's parameters or data are read as commands. ``81 30 1D 28 …`` is one
GB18030 character, so a ``GS ( K`` whose data is a ``GS ( H`` becomes a ``GS ( H``.

When a printer reads text this way depends on the model, not only on the data:

* GB18030 four-byte characters (a lead byte 81–FE, then a digit 30–39): in Kanji mode
  (``FS &``) on Chinese models, and on the Chinese models that start in that mode and may keep
  it through ``ESC @``. The check assumes it everywhere.
* JIS (Japanese models with the JIS code system): in Kanji mode every byte 21–7E is the first
  of a pair, and the pair takes whatever byte comes next. The check assumes it from an
  ``FS &`` until the next ``FS .``.
* Two-byte sets (GBK, Big5, Shift_JIS, KS C 5601) take a second byte only if it is 40 or
  above, which is never a control byte: they cannot take a command with them.

So a run of text passes only if, read from its start in each of those ways, its last
character ends inside the run. The printer starts a fresh character after every control byte
and command, so when every run passes, the printer and the walk find the same commands.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Final

from receiptd.document.raw.syntax import DOUBLE_BYTE, name_at
from receiptd.errors import RawRejected

Width = Callable[[bytes, int], int]


def _gb18030_lenient(run: bytes, i: int) -> int:
    # A second byte of 40 or above makes a pair, a digit a four-byte character whatever its
    # third and fourth bytes are (the reference printer, receiptd.emulator, reads it so).
    b = run[i]
    if not 0x81 <= b <= 0xFE or i + 1 >= len(run):
        return 1
    second = run[i + 1]
    if 0x30 <= second <= 0x39:
        return 4
    return 2 if second >= 0x40 else 1


def _gb18030_strict(run: bytes, i: int) -> int:
    # GB18030 as the standard writes it: second bytes 40-7E and 80-FE make a pair. It puts the
    # pairs elsewhere than the lenient reading when a 7F or FF follows a lead byte.
    b = run[i]
    if not 0x81 <= b <= 0xFE or i + 1 >= len(run):
        return 1
    second = run[i + 1]
    if 0x30 <= second <= 0x39:
        return 4
    return 2 if 0x40 <= second <= 0xFE and second != 0x7F else 1


def _jis(run: bytes, i: int) -> int:
    return 2 if 0x21 <= run[i] <= 0x7E else 1


_ALWAYS: Final[tuple[tuple[str, Width], ...]] = (
    ("GB18030", _gb18030_lenient),
    ("GB18030", _gb18030_strict),
)
_KANJI: Final[tuple[tuple[str, Width], ...]] = (*_ALWAYS, ("JIS", _jis))


def _overrun(run: bytes, width: Width) -> tuple[int, int] | None:
    """Where the character that runs past the end of ``run`` starts, and its width."""
    i, n = 0, len(run)
    while i < n:
        w = width(run, i)
        if i + w > n:
            return i, w
        i += w
    return None


def _may_overrun(run: bytes, kanji: bool) -> bool:
    """Cheap test first: only the last bytes of a run can start a character that leaves it."""
    if kanji and 0x21 <= run[-1] <= 0x7E:
        return True
    tail = run[-3:]
    return any(0x81 <= a <= 0xFE and 0x30 <= b <= 0x39 for a, b in itertools.pairwise(tail))


def check_text(data: bytes, start: int, end: int, *, kanji_from: int | None) -> None:
    """Raise unless the text ``data[start:end]`` (bytes 20–FF, followed by a control byte or
    the end of the data) ends on a character boundary in every double-byte reading that may
    apply; ``kanji_from`` is the offset of an ``FS &`` that may still be in force."""
    run = data[start:end]
    kanji = kanji_from is not None
    if not run or not _may_overrun(run, kanji):
        return
    for name, width in _KANJI if kanji else _ALWAYS:
        hit = _overrun(run, width)
        if hit is None:
            continue
        at, w = start + hit[0], hit[1]
        after = (f"the byte {data[end]:02X} at offset {end}" if end < len(data)
                 else "the daemon's next command")
        mode = (f"in the Kanji mode that FS & at offset {kanji_from} selects" if name == "JIS"
                else "in a Chinese double-byte mode (FS &, or a printer that starts in it)")
        fix = ("turn Kanji mode off (FS .) before it" if name == "JIS"
               else "a four-byte character keeps all its bytes in the text")
        raise RawRejected(
            f"bytes {name_at(data, at, min(end, at + w))} at offset {at} start a {w}-byte"
            f" {name} character {mode}; it would take {after} with it, and the printer would"
            f" run as commands bytes that were checked as data ({fix})",
            code=DOUBLE_BYTE,
        )

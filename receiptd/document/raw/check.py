"""The walk: ``check_raw`` reads raw ESC/POS input command by command, as the printer does.

Printable text and lone control bytes pass. An ESC, GS, FS or DLE command must be in the
tables (``receiptd.document.raw.tables``), which give its length (so the walk stays in step
through parameters and image data) and say whether it is allowed. A command not in the tables
is rejected: without its length the rest cannot be checked. Each run of text must end on a
character boundary however a double-byte printer reads it (``receiptd.document.raw.text``), so
no character can take a command's first bytes with it; Kanji mode (``FS &``) must be off again
(``FS .``) at the end, or the printer would read what follows the raw part in it.

Finally ``10 04``, ``10 05`` and ``10 14`` are rejected wherever they occur, also inside image
data: the printer executes real-time commands as soon as the bytes arrive. So is a trailing
``10``, which would join the daemon's next bytes, and a first byte ``04``, ``05`` or ``14``,
which a ``10`` just before the raw part would make one: the check does not see those bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from receiptd.document.raw.syntax import (
    DOUBLE_BYTE,
    REALTIME,
    UNKNOWN,
    Family,
    Fixed,
    Forbidden,
    Spec,
    forbid,
    name_at,
    param,
    truncated,
)
from receiptd.document.raw.tables import DLE_COMMANDS, PREFIXES
from receiptd.document.raw.text import check_text
from receiptd.errors import RawRejected

# `10 04` DLE EOT, `10 05` DLE ENQ, `10 14` DLE DC4.
_REALTIME_PREFIXES: Final = (b"\x10\x04", b"\x10\x05", b"\x10\x14")
_KANJI_ON: Final = b"\x1c\x26"  # FS &
_KANJI_OFF: Final = b"\x1c\x2e"  # FS .


def _command_end(data: bytes, start: int, table: Mapping[int, Spec]) -> int:
    pos = start + 1
    while True:
        spec = table.get(param(data, pos, start))
        if spec is None:
            raise RawRejected(
                f"unknown command {name_at(data, start, pos + 1)} at offset {start}",
                code=UNKNOWN,
            )
        if isinstance(spec, Family):
            table, pos = spec.members, pos + 1
            continue
        if isinstance(spec, Forbidden):
            raise forbid(spec.name, start, spec.reason)
        end = pos + 1 + spec.params if isinstance(spec, Fixed) else spec.end(data, start, pos + 1)
        if end > len(data):
            raise truncated(data, start)
        return end


def check_raw(data: bytes) -> bytes:
    """Return ``data`` unchanged if every command in it is allowed; else raise RawRejected."""
    i, n = 0, len(data)
    kanji_from: int | None = None  # offset of the FS & that may have Kanji mode on
    while i < n:
        b = data[i]
        if b >= 0x20:  # a run of text, up to the next control byte
            end = i + 1
            while end < n and data[end] >= 0x20:
                end += 1
            check_text(data, i, end, kanji_from=kanji_from)
            i = end
            continue
        table = PREFIXES.get(b)
        if table is not None:
            end = _command_end(data, i, table)
            if data.startswith(_KANJI_ON, i):
                kanji_from = i
            elif data.startswith(_KANJI_OFF, i):
                kanji_from = None
            i = end
        elif b == 0x10 and i + 1 < n and data[i + 1] in DLE_COMMANDS:
            rt = DLE_COMMANDS[data[i + 1]]
            raise forbid(rt.name, i, rt.reason)
        else:
            i += 1  # a one-byte control code (LF, CR, HT, FF, CAN, ...)
    if kanji_from is not None:
        raise RawRejected(
            f"FS & at offset {kanji_from} turns Kanji mode on and nothing turns it off: end"
            " the raw data with FS . (1C 2E), or the printer would read the daemon's commands"
            " and the next receipt in Kanji mode",
            code=DOUBLE_BYTE,
        )
    _check_realtime(data)
    return data


def _check_realtime(data: bytes) -> None:
    hits = [p for p in (data.find(s) for s in _REALTIME_PREFIXES) if p >= 0]
    if hits:
        at = min(hits)
        raise RawRejected(
            f"bytes {name_at(data, at, at + 2)} at offset {at} form a real-time command; the"
            " printer executes it even inside image data",
            code=REALTIME,
        )
    if data.endswith(b"\x10"):
        raise RawRejected(
            f"a trailing 10 at offset {len(data) - 1} would join the daemon's next bytes into"
            " a real-time command",
            code=REALTIME,
        )
    if data[:1] in (b"\x04", b"\x05", b"\x14"):
        raise RawRejected(
            f"the first byte {data[0]:02X} would complete a real-time command with a 10 just"
            " before the raw data (the printer reads the receipt's opening and the raw data as"
            " one stream)",
            code=REALTIME,
        )

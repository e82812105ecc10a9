"""The walk: ``check_raw`` reads raw ESC/POS input command by command.

Printable text and lone control bytes pass. An ESC, GS, FS or DLE command must be in the
tables (``receiptd.document.raw.tables``), which give its length (so the walk stays in step
through parameters and image data) and say whether it is allowed. A command not in the tables
is rejected: without its length the rest cannot be checked.

Finally ``10 04``, ``10 05`` and ``10 14`` are rejected wherever they occur, also inside image
data: the printer executes real-time commands as soon as the bytes arrive. So is a trailing
``10``, which would join the daemon's next bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from receiptd.document.raw.syntax import (
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
from receiptd.errors import RawRejected

# `10 04` DLE EOT, `10 05` DLE ENQ, `10 14` DLE DC4.
_REALTIME_PREFIXES: Final = (b"\x10\x04", b"\x10\x05", b"\x10\x14")


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
    while i < n:
        b = data[i]
        table = PREFIXES.get(b)
        if table is not None:
            i = _command_end(data, i, table)
        elif b == 0x10 and i + 1 < n and data[i + 1] in DLE_COMMANDS:
            rt = DLE_COMMANDS[data[i + 1]]
            raise forbid(rt.name, i, rt.reason)
        else:
            i += 1  # text, or a one-byte control code (LF, CR, HT, FF, CAN, ...)
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

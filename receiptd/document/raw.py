"""Allow-list check of ``raw`` ESC/POS input.

``check_raw`` walks the bytes command by command. Printable text and lone control bytes pass.
An ESC, GS, FS or DLE command must be in the tables below, which give its length (so the walk
stays in step through parameters and image data) and say whether it is allowed. A command not
in the tables is rejected: without its length the rest cannot be checked.

Rejected, and why:

* the daemon owns the reply stream: every command that makes the printer send something back
  (DLE EOT/ENQ/DC4, GS a, GS ( H, GS I, GS r, GS g, GS j, ESC u, ESC v, GS ( k fn 82, the
  GS ( L "transmit" functions, FS ( e, FS ( L). A reply it did not ask for could be taken for
  an answer to its own status requests or for a print confirmation;
* NV memory and configuration writes: GS ( E, GS ( C, GS ( M, GS ( F, FS q, FS g, FS ( E,
  GS D, the GS ( L / GS 8 L NV-graphics define/delete functions, GS g 0;
* GS ( D: it can turn real-time commands off, which would blind the daemon;
* anything that would stop the daemon's own commands after the raw part from working: ESC =
  (the printer ignores all data once deselected), ESC L (page mode holds the print back until
  FF), GS : and GS ^ (an unterminated macro definition swallows what follows; executing one
  can wait for the FEED button), truncated commands (they would eat the completion marker);
* GS ( A: a self-test print is not receipt content.

Allowed on purpose: ESC @ (a volatile reset of print modes; whether it also resets ASB or the
offline response on every model is not verified, so the daemon should not rely on them
surviving a raw part), FS p and GS ( L fn 69 (print an NV image already stored: reads NV
memory, writes nothing), download (RAM) graphics and print-buffer graphics, ESC p (drawer
kick).

Finally ``10 04``, ``10 05`` and ``10 14`` are rejected wherever they occur, also inside image
data: the printer executes real-time commands as soon as the bytes arrive. So is a trailing
``10``, which would join the daemon's next bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from receiptd.errors import RawRejected

FORBIDDEN: Final = "raw_forbidden_command"
UNKNOWN: Final = "raw_unknown_command"
BAD_PARAMETER: Final = "raw_bad_parameter"
TRUNCATED: Final = "raw_truncated"
REALTIME: Final = "raw_realtime_sequence"

# `10 04` DLE EOT, `10 05` DLE ENQ, `10 14` DLE DC4.
_REALTIME_PREFIXES: Final = (b"\x10\x04", b"\x10\x05", b"\x10\x14")


# -- command tables -----------------------------------------------------------------------------
#
# An end function gets the whole data, the offset of the command's first byte and the offset of
# its first parameter byte, and returns the offset just past the command (which may lie beyond
# the data: the caller reports that as truncated).

EndFn: TypeAlias = Callable[[bytes, int, int], int]


@dataclass(frozen=True)
class _Fixed:
    name: str
    params: int


@dataclass(frozen=True)
class _Var:
    name: str
    end: EndFn


@dataclass(frozen=True)
class _Forbidden:
    name: str
    reason: str


@dataclass(frozen=True)
class _Family:
    """The next byte selects the command (GS ( X, FS ( X, ESC ( X)."""

    members: Mapping[int, _Spec]


_Spec: TypeAlias = _Fixed | _Var | _Forbidden | _Family


def _param(data: bytes, pos: int, start: int) -> int:
    if pos >= len(data):
        raise _truncated(data, start)
    return data[pos]


def _u16(data: bytes, pos: int, start: int) -> int:
    return _param(data, pos, start) | _param(data, pos + 1, start) << 8


def _name_at(data: bytes, start: int, pos: int) -> str:
    return data[start:pos].hex(" ").upper()


def _truncated(data: bytes, start: int) -> RawRejected:
    return RawRejected(
        f"command {_name_at(data, start, start + 3)} at offset {start} is cut off by the end"
        " of the data",
        code=TRUNCATED,
    )


def _bad(name: str, start: int, why: str) -> RawRejected:
    return RawRejected(f"{name} at offset {start}: {why}", code=BAD_PARAMETER)


def _forbid(name: str, start: int, reason: str) -> RawRejected:
    return RawRejected(f"{name} at offset {start} is not allowed: {reason}", code=FORBIDDEN)


# Variable-length commands.


def _esc_star(data: bytes, start: int, pos: int) -> int:
    # ESC * m nL nH d1..dk: 8-dot modes (m=0,1) one byte per column, 24-dot (32,33) three.
    m = _param(data, pos, start)
    per_column = {0: 1, 1: 1, 32: 3, 33: 3}.get(m)
    if per_column is None:
        raise _bad("ESC *", start, f"unknown bit-image mode {m}")
    return pos + 3 + per_column * _u16(data, pos + 1, start)


def _esc_amp(data: bytes, start: int, pos: int) -> int:
    # ESC & y c1 c2 [x d1..d(y*x)] for each character c1..c2.
    y, c1, c2 = (_param(data, pos + i, start) for i in range(3))
    if c2 < c1:
        raise _bad("ESC &", start, f"character range {c1}..{c2} is empty")
    p = pos + 3
    for _ in range(c2 - c1 + 1):
        p += 1 + y * _param(data, p, start)
    return p


_MAX_TABS: Final = 32


def _esc_d(data: bytes, start: int, pos: int) -> int:
    # ESC D n1..nk NUL, k <= 32: after 32 positions the printer treats the rest as normal data.
    for k in range(_MAX_TABS):
        if _param(data, pos + k, start) == 0:
            return pos + k + 1
    return pos + _MAX_TABS


def _gs_star(data: bytes, start: int, pos: int) -> int:
    # GS * x y d1..d(x*y*8): downloaded bit image (RAM).
    return pos + 2 + _param(data, pos, start) * _param(data, pos + 1, start) * 8


def _gs_v(data: bytes, start: int, pos: int) -> int:
    # GS v 0 m xL xH yL yH d1..dk, k = (xL + xH*256) * (yL + yH*256).
    if _param(data, pos, start) != 0x30:
        raise RawRejected(
            f"unknown command {_name_at(data, start, pos + 1)} at offset {start}", code=UNKNOWN
        )
    m = _param(data, pos + 1, start)
    if m not in (0, 1, 2, 3, 48, 49, 50, 51):
        raise _bad("GS v 0", start, f"unknown raster mode {m}")
    return pos + 6 + _u16(data, pos + 2, start) * _u16(data, pos + 4, start)


def _gs_k(data: bytes, start: int, pos: int) -> int:
    # GS k m d1..dk NUL (m = 0..6) or GS k m n d1..dn (m = 65..79).
    m = _param(data, pos, start)
    if m <= 6:
        end = data.find(b"\x00", pos + 1)
        if end < 0:
            raise _truncated(data, start)
        return end + 1
    if 65 <= m <= 79:
        return pos + 2 + _param(data, pos + 1, start)
    raise _bad("GS k", start, f"unknown barcode system {m}")


def _gs_cut(data: bytes, start: int, pos: int) -> int:
    # GS V m (m = 0, 1, 48, 49) or GS V m n (m = 65, 66, 97, 98, 103, 104).
    m = _param(data, pos, start)
    if m in (0, 1, 48, 49):
        return pos + 1
    if m in (65, 66, 97, 98, 103, 104):
        return pos + 2
    raise _bad("GS V", start, f"unknown cut mode {m}")


# Length-prefixed families: GS ( X pL pH ... and GS 8 L p1 p2 p3 p4 .... A check function sees
# the body (the bytes after the length field that are present) and the declared length, and
# raises for forbidden functions.

BodyCheck: TypeAlias = Callable[[str, int, bytes, int], None]


def _prefixed(name: str, check: BodyCheck | None = None, width: int = 2) -> _Var:
    def end(data: bytes, start: int, pos: int) -> int:
        length = 0
        for i in range(width):
            length |= _param(data, pos + i, start) << (8 * i)
        body_start = pos + width
        if check is not None:
            check(name, start, data[body_start : body_start + length], length)
        return body_start + length

    return _Var(name, end)


def _gs_paren_k_check(name: str, start: int, body: bytes, length: int) -> None:
    # body: cn fn ...; fn 82 "transmit size information" answers on the reply stream.
    if len(body) >= 2 and body[1] == 82:
        raise _forbid(f"{name} fn 82", start, "it sends a reply on the status stream")


# GS ( L / GS 8 L body: m=48 then fn. Only functions that neither answer nor write NV memory.
_GRAPHICS_ALLOWED: Final[Mapping[int, str]] = {
    1: "set reference dot density",
    49: "set reference dot density",
    2: "print the graphics in the print buffer",
    50: "print the graphics in the print buffer",
    69: "print NV graphics",
    81: "delete all download graphics",
    82: "delete download graphics",
    83: "define download graphics (raster)",
    84: "define download graphics (column)",
    85: "print download graphics",
    112: "store graphics in the print buffer (raster)",
    113: "store graphics in the print buffer (column)",
}


def _graphics_check(name: str, start: int, body: bytes, length: int) -> None:
    if length < 2:
        raise _bad(name, start, "no function code")
    if len(body) < 2:
        return  # cut off: the caller reports it as truncated
    fn = body[1]
    if fn not in _GRAPHICS_ALLOWED:
        raise _forbid(
            f"{name} fn {fn}",
            start,
            "NV graphics definitions and graphics replies are reserved (only print-buffer,"
            " download-graphics and NV-print functions pass)",
        )


_REPLY: Final = "it sends a reply on the status stream, which the daemon owns"
_NV: Final = "it writes the printer's non-volatile memory or configuration"

_GS_PAREN: Final[Mapping[int, _Spec]] = {
    0x41: _Forbidden("GS ( A", "a self-test print is not receipt content"),
    0x43: _Forbidden("GS ( C", f"NV user memory: {_NV}"),
    0x44: _Forbidden("GS ( D", "it can disable real-time commands, blinding the daemon"),
    0x45: _Forbidden("GS ( E", f"user-setting mode / memory switches: {_NV}"),
    0x46: _Forbidden("GS ( F", f"cut / print position adjustment: {_NV}"),
    0x48: _Forbidden("GS ( H", "process IDs and offline responses are the daemon's"),
    0x4B: _prefixed("GS ( K"),  # print control (density, speed): volatile
    0x4C: _prefixed("GS ( L", _graphics_check),
    0x4D: _Forbidden("GS ( M", f"customize setting values: {_NV}"),
    0x4E: _prefixed("GS ( N"),  # character effects (colour, shading)
    0x6B: _prefixed("GS ( k", _gs_paren_k_check),  # 2D symbols: QR, PDF417, ...
}

_GS_8: Final[Mapping[int, _Spec]] = {0x4C: _prefixed("GS 8 L", _graphics_check, width=4)}

_FS_PAREN: Final[Mapping[int, _Spec]] = {
    0x41: _prefixed("FS ( A"),  # kanji font
    0x43: _prefixed("FS ( C"),  # character encoding (UTF-8)
    0x45: _Forbidden("FS ( E", f"receipt enhancement: {_NV}"),
    0x4C: _Forbidden("FS ( L", f"paper layout: {_NV}; {_REPLY}"),
    0x65: _Forbidden("FS ( e", f"ASB for optional functions: {_REPLY}"),
}

_ESC_PAREN: Final[Mapping[int, _Spec]] = {0x41: _prefixed("ESC ( A")}  # beeper

_ESC: Final[Mapping[int, _Spec]] = {
    0x0C: _Fixed("ESC FF", 0),
    0x20: _Fixed("ESC SP", 1),
    0x21: _Fixed("ESC !", 1),
    0x24: _Fixed("ESC $", 2),
    0x25: _Fixed("ESC %", 1),
    0x26: _Var("ESC &", _esc_amp),
    0x28: _Family(_ESC_PAREN),
    0x2A: _Var("ESC *", _esc_star),
    0x2D: _Fixed("ESC -", 1),
    0x32: _Fixed("ESC 2", 0),
    0x33: _Fixed("ESC 3", 1),
    0x3C: _Fixed("ESC <", 0),
    0x3D: _Forbidden("ESC =", "a deselected printer ignores everything after it"),
    0x3F: _Fixed("ESC ?", 1),
    0x40: _Fixed("ESC @", 0),
    0x44: _Var("ESC D", _esc_d),
    0x45: _Fixed("ESC E", 1),
    0x47: _Fixed("ESC G", 1),
    0x4A: _Fixed("ESC J", 1),
    0x4B: _Fixed("ESC K", 1),
    0x4C: _Forbidden("ESC L", "page mode holds the print back until FF"),
    0x4D: _Fixed("ESC M", 1),
    0x52: _Fixed("ESC R", 1),
    0x53: _Fixed("ESC S", 0),
    0x54: _Fixed("ESC T", 1),
    0x55: _Fixed("ESC U", 1),
    0x56: _Fixed("ESC V", 1),
    0x57: _Fixed("ESC W", 8),
    0x5C: _Fixed("ESC \\", 2),
    0x61: _Fixed("ESC a", 1),
    0x63: _Fixed("ESC c", 2),  # ESC c 0/1/3/4/5 n
    0x64: _Fixed("ESC d", 1),
    0x65: _Fixed("ESC e", 1),
    0x69: _Fixed("ESC i", 0),
    0x6D: _Fixed("ESC m", 0),
    0x70: _Fixed("ESC p", 3),
    0x72: _Fixed("ESC r", 1),
    0x74: _Fixed("ESC t", 1),
    0x75: _Forbidden("ESC u", _REPLY),
    0x76: _Forbidden("ESC v", _REPLY),
    0x7B: _Fixed("ESC {", 1),
}

_GS: Final[Mapping[int, _Spec]] = {
    0x21: _Fixed("GS !", 1),
    0x24: _Fixed("GS $", 2),
    0x28: _Family(_GS_PAREN),
    0x2A: _Var("GS *", _gs_star),
    0x2F: _Fixed("GS /", 1),
    0x38: _Family(_GS_8),
    0x3A: _Forbidden("GS :", "an unterminated macro definition swallows what follows"),
    0x42: _Fixed("GS B", 1),
    0x44: _Forbidden("GS D", f"Windows BMP NV graphics: {_NV}"),
    0x48: _Fixed("GS H", 1),
    0x49: _Forbidden("GS I", _REPLY),
    0x4C: _Fixed("GS L", 2),
    0x50: _Fixed("GS P", 2),
    0x54: _Fixed("GS T", 1),
    0x56: _Var("GS V", _gs_cut),
    0x57: _Fixed("GS W", 2),
    0x5C: _Fixed("GS \\", 2),
    0x5E: _Forbidden("GS ^", "macro execution can wait for the FEED button"),
    0x61: _Forbidden("GS a", "Automatic Status Back is the daemon's"),
    0x62: _Fixed("GS b", 1),
    0x66: _Fixed("GS f", 1),
    0x67: _Forbidden("GS g", f"maintenance counters: {_NV}; {_REPLY}"),
    0x68: _Fixed("GS h", 1),
    0x6A: _Forbidden("GS j", f"ASB for ink: {_REPLY}"),
    0x6B: _Var("GS k", _gs_k),
    0x72: _Forbidden("GS r", _REPLY),
    0x76: _Var("GS v", _gs_v),
    0x77: _Fixed("GS w", 1),
}

_FS: Final[Mapping[int, _Spec]] = {
    0x21: _Fixed("FS !", 1),
    0x26: _Fixed("FS &", 0),
    0x28: _Family(_FS_PAREN),
    0x2D: _Fixed("FS -", 1),
    0x2E: _Fixed("FS .", 0),
    0x43: _Fixed("FS C", 1),
    0x53: _Fixed("FS S", 2),
    0x57: _Fixed("FS W", 1),
    0x67: _Forbidden("FS g", f"NV user memory: {_NV}; {_REPLY}"),
    0x70: _Fixed("FS p", 2),  # print a stored NV image: reads NV memory only
    0x71: _Forbidden("FS q", f"NV bit image definition: {_NV}"),
}

_REALTIME_REASON: Final = "real-time commands are the daemon's"
_DLE: Final[Mapping[int, _Forbidden]] = {
    0x04: _Forbidden("DLE EOT", f"{_REALTIME_REASON} (status request)"),
    0x05: _Forbidden("DLE ENQ", f"{_REALTIME_REASON} (error recovery)"),
    0x14: _Forbidden("DLE DC4", f"{_REALTIME_REASON} (pulse, power off, clear buffers, ...)"),
}

_PREFIXES: Final[Mapping[int, Mapping[int, _Spec]]] = {
    0x1B: _ESC,
    0x1C: _FS,
    0x1D: _GS,
}


# -- the walk -----------------------------------------------------------------------------------


def _command_end(data: bytes, start: int, table: Mapping[int, _Spec]) -> int:
    pos = start + 1
    while True:
        spec = table.get(_param(data, pos, start))
        if spec is None:
            raise RawRejected(
                f"unknown command {_name_at(data, start, pos + 1)} at offset {start}",
                code=UNKNOWN,
            )
        if isinstance(spec, _Family):
            table, pos = spec.members, pos + 1
            continue
        if isinstance(spec, _Forbidden):
            raise _forbid(spec.name, start, spec.reason)
        end = pos + 1 + spec.params if isinstance(spec, _Fixed) else spec.end(data, start, pos + 1)
        if end > len(data):
            raise _truncated(data, start)
        return end


def check_raw(data: bytes) -> bytes:
    """Return ``data`` unchanged if every command in it is allowed; else raise RawRejected."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        table = _PREFIXES.get(b)
        if table is not None:
            i = _command_end(data, i, table)
        elif b == 0x10 and i + 1 < n and data[i + 1] in _DLE:
            rt = _DLE[data[i + 1]]
            raise _forbid(rt.name, i, rt.reason)
        else:
            i += 1  # text, or a one-byte control code (LF, CR, HT, FF, CAN, ...)
    _check_realtime(data)
    return data


def _check_realtime(data: bytes) -> None:
    hits = [p for p in (data.find(s) for s in _REALTIME_PREFIXES) if p >= 0]
    if hits:
        at = min(hits)
        raise RawRejected(
            f"bytes {_name_at(data, at, at + 2)} at offset {at} form a real-time command; the"
            " printer executes it even inside image data",
            code=REALTIME,
        )
    if data.endswith(b"\x10"):
        raise RawRejected(
            f"a trailing 10 at offset {len(data) - 1} would join the daemon's next bytes into"
            " a real-time command",
            code=REALTIME,
        )

"""How long each raw ESC/POS command is: the kinds of table entry, the parameter readers, and
the commands whose length depends on their parameters.

The walk must stay in step through parameters and image data, or a data byte would be taken
for a command. The rejection codes are the ``code`` of ``RawRejected``, which the API returns.
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
DOUBLE_BYTE: Final = "raw_double_byte_text"


# An end function gets the whole data, the offset of the command's first byte and the offset of
# its first parameter byte, and returns the offset just past the command (which may lie beyond
# the data: the caller reports that as truncated).

EndFn: TypeAlias = Callable[[bytes, int, int], int]


@dataclass(frozen=True)
class Fixed:
    name: str
    params: int


@dataclass(frozen=True)
class Var:
    name: str
    end: EndFn


@dataclass(frozen=True)
class Forbidden:
    name: str
    reason: str


@dataclass(frozen=True)
class Family:
    """The next byte selects the command (GS ( X, FS ( X, ESC ( X)."""

    members: Mapping[int, Spec]


Spec: TypeAlias = Fixed | Var | Forbidden | Family


def param(data: bytes, pos: int, start: int) -> int:
    if pos >= len(data):
        raise truncated(data, start)
    return data[pos]


def u16(data: bytes, pos: int, start: int) -> int:
    return param(data, pos, start) | param(data, pos + 1, start) << 8


def name_at(data: bytes, start: int, pos: int) -> str:
    return data[start:pos].hex(" ").upper()


def truncated(data: bytes, start: int) -> RawRejected:
    return RawRejected(
        f"command {name_at(data, start, start + 3)} at offset {start} is cut off by the end"
        " of the data",
        code=TRUNCATED,
    )


def bad(name: str, start: int, why: str) -> RawRejected:
    return RawRejected(f"{name} at offset {start}: {why}", code=BAD_PARAMETER)


def forbid(name: str, start: int, reason: str) -> RawRejected:
    return RawRejected(f"{name} at offset {start} is not allowed: {reason}", code=FORBIDDEN)


# Variable-length commands.


def esc_star(data: bytes, start: int, pos: int) -> int:
    # ESC * m nL nH d1..dk: 8-dot modes (m=0,1) one byte per column, 24-dot (32,33) three.
    m = param(data, pos, start)
    per_column = {0: 1, 1: 1, 32: 3, 33: 3}.get(m)
    if per_column is None:
        raise bad("ESC *", start, f"unknown bit-image mode {m}")
    return pos + 3 + per_column * u16(data, pos + 1, start)


_MAX_CHAR_DOTS: Final = 12  # font A is 12 dots wide


def esc_amp(data: bytes, start: int, pos: int) -> int:
    # ESC & y c1 c2 [x d1..d(y*x)] for each character c1..c2. Outside the documented ranges a
    # printer may drop the definition and read its dot data as commands: refused.
    y, c1, c2 = (param(data, pos + i, start) for i in range(3))
    if not 1 <= y <= 3:
        raise bad("ESC &", start, f"character height y={y} (1-3 bytes)")
    if not 0x20 <= c1 <= c2 <= 0x7E:
        raise bad("ESC &", start, f"character range {c1}..{c2} (20-7E, ascending)")
    p = pos + 3
    for _ in range(c2 - c1 + 1):
        x = param(data, p, start)
        if x > _MAX_CHAR_DOTS:
            raise bad("ESC &", start, f"character width x={x} at offset {p} (0-12)")
        p += 1 + y * x
    return p


_MAX_TABS: Final = 32


def esc_d(data: bytes, start: int, pos: int) -> int:
    # ESC D n1..nk NUL, k <= 32, each n above the one before. A printer ends the setting at the
    # 33rd value or at one that does not ascend and reads the rest as normal data, while another
    # reads to the NUL: only a list both read the same way passes.
    previous = 0
    for k in range(_MAX_TABS + 1):
        n = param(data, pos + k, start)
        if n == 0:
            return pos + k + 1
        if k == _MAX_TABS:
            raise bad("ESC D", start, f"more than {_MAX_TABS} tab positions before the NUL")
        if n <= previous:
            raise bad("ESC D", start, f"tab position {n} at offset {pos + k} does not ascend")
        previous = n
    raise AssertionError("unreachable")


def gs_star(data: bytes, start: int, pos: int) -> int:
    # GS * x y d1..d(x*y*8): downloaded bit image (RAM), 1 <= y <= 48, x*y <= 1536.
    x, y = param(data, pos, start), param(data, pos + 1, start)
    if not (x >= 1 and 1 <= y <= 48 and x * y <= 1536):
        raise bad("GS *", start, f"image size x={x} y={y} (x >= 1, 1 <= y <= 48, x*y <= 1536)")
    return pos + 2 + x * y * 8


def gs_v(data: bytes, start: int, pos: int) -> int:
    # GS v 0 m xL xH yL yH d1..dk, k = (xL + xH*256) * (yL + yH*256).
    if param(data, pos, start) != 0x30:
        raise RawRejected(
            f"unknown command {name_at(data, start, pos + 1)} at offset {start}", code=UNKNOWN
        )
    m = param(data, pos + 1, start)
    if m not in (0, 1, 2, 3, 48, 49, 50, 51):
        raise bad("GS v 0", start, f"unknown raster mode {m}")
    return pos + 6 + u16(data, pos + 2, start) * u16(data, pos + 4, start)


_MAX_BARCODE: Final = 255


def gs_k(data: bytes, start: int, pos: int) -> int:
    # GS k m d1..dk NUL (m = 0..6) or GS k m n d1..dn (m = 65..79).
    m = param(data, pos, start)
    if m <= 6:
        # The NUL form ends where the printer stops taking barcode data: at the NUL, at a byte
        # the symbology cannot encode, or after a model's limit. Printable ASCII up to 255
        # bytes reads as the same text wherever a printer stops, so no command hides in it.
        for k in range(_MAX_BARCODE + 1):
            at = pos + 1 + k
            d = param(data, at, start)
            if d == 0:
                return at + 1
            if k == _MAX_BARCODE:
                raise bad(f"GS k {m}", start, f"no NUL within {_MAX_BARCODE} bytes of data")
            if not 0x20 <= d <= 0x7E:
                raise bad(f"GS k {m}", start,
                          f"data byte {d:02X} at offset {at} is not printable ASCII (20-7E)")
    if 65 <= m <= 79:
        return pos + 2 + param(data, pos + 1, start)
    raise bad("GS k", start, f"unknown barcode system {m}")


def gs_cut(data: bytes, start: int, pos: int) -> int:
    # GS V m (m = 0, 1, 48, 49) or GS V m n (m = 65, 66, 97, 98, 103, 104).
    m = param(data, pos, start)
    if m in (0, 1, 48, 49):
        return pos + 1
    if m in (65, 66, 97, 98, 103, 104):
        return pos + 2
    raise bad("GS V", start, f"unknown cut mode {m}")


# Length-prefixed families: GS ( X pL pH ... and GS 8 L p1 p2 p3 p4 .... A check function sees
# the body (the bytes after the length field that are present) and the declared length, and
# raises for forbidden functions.

BodyCheck: TypeAlias = Callable[[str, int, bytes, int], None]


def prefixed(name: str, check: BodyCheck | None = None, width: int = 2) -> Var:
    def end(data: bytes, start: int, pos: int) -> int:
        length = 0
        for i in range(width):
            length |= param(data, pos + i, start) << (8 * i)
        body_start = pos + width
        if check is not None:
            check(name, start, data[body_start : body_start + length], length)
        return body_start + length

    return Var(name, end)


def setting(name: str, lengths: range, functions: frozenset[int]) -> Var:
    """A ``( X pL pH fn ...`` setting with a few parameter bytes: only the documented lengths
    and functions pass, so no data can hide behind a length the printer reads otherwise."""

    def check(name: str, start: int, body: bytes, length: int) -> None:
        if length not in lengths:
            allowed = f"{lengths.start}-{lengths.stop - 1}"
            raise bad(name, start, f"parameter length {length} (allowed: {allowed})")
        if body and body[0] not in functions:
            raise bad(name, start, f"function {body[0]} (one of {sorted(functions)})")

    return prefixed(name, check)


"""Command builders: each returns the bytes of one ESC/POS command, checked before it is built.

Only the commands the daemon itself sends are here: status requests, Automatic Status Back,
process IDs, buffer clearing and error recovery. Which reply each one draws is noted on the
builder; ``receiptd.protocol.stream`` splits those replies out of the stream.
"""

from __future__ import annotations

from typing import Final

from receiptd.protocol.status import DLE_EOT_FIELDS

DLE: Final = 0x10
EOT: Final = 0x04
ENQ: Final = 0x05
DC4: Final = 0x14
ESC: Final = 0x1B
GS: Final = 0x1D

def init() -> bytes:
    """ESC @: initialise (clears the print buffer, not the receive buffer)."""
    return bytes((ESC, 0x40))


def dle_eot(n: int) -> bytes:
    """DLE EOT n: real-time status, answered by one byte even when offline."""
    if n not in DLE_EOT_FIELDS:
        raise ValueError(f"DLE EOT n must be 1..4, not {n!r}")
    return bytes((DLE, EOT, n))


ASB_DRAWER: Final = 0x01
ASB_ONLINE: Final = 0x02
ASB_ERROR: Final = 0x04
ASB_PAPER: Final = 0x08
ASB_PANEL: Final = 0x40
_ASB_BITS: Final = ASB_DRAWER | ASB_ONLINE | ASB_ERROR | ASB_PAPER | ASB_PANEL


def enable_asb(mask: int = ASB_ONLINE | ASB_ERROR | ASB_PAPER | ASB_PANEL) -> bytes:
    """GS a n: Automatic Status Back for the items in ``mask`` (0 disables).

    The default, 0x4E, leaves out the drawer: a drawer sensor that bounces would flood the
    stream. Bits 4, 5 and 7 are undefined and rejected.
    """
    if not 0 <= mask <= 0xFF or mask & ~_ASB_BITS:
        raise ValueError(f"ASB mask may only use bits 0x{_ASB_BITS:02X}, not {mask!r}")
    return bytes((GS, 0x61, mask))


# A process ID is any 4 characters 20-7E; the printer hands it back unchanged.
PID_CHARS: Final = "".join(chr(c) for c in range(0x20, 0x7F))
PID_LENGTH: Final = 4
# The ID the session sends once per connection to learn whether the printer answers GS ( H;
# the daemon never gives it to a print.
PROBE_PID: Final = "PRB "


def is_pid(pid: str) -> bool:
    """Whether ``pid`` can be sent as a process ID (4 characters 20-7E)."""
    return len(pid) == PID_LENGTH and all(c in PID_CHARS for c in pid)


def _check_pid(pid: str) -> bytes:
    if not is_pid(pid):
        raise ValueError(f"a process ID is 4 characters 0x20-0x7E, not {pid!r}")
    return pid.encode("ascii")


def process_id(pid: str) -> bytes:
    """GS ( H fn 48: the printer answers ``37 22 pid 00`` once everything before is printed."""
    return b"\x1d\x28\x48\x06\x00\x30\x30" + _check_pid(pid)


# A counter written in base 94 with the digits 0x21 '!' .. 0x7E '~', most significant digit
# first, so that string order equals numeric order; it wraps after PID_MODULUS values
# (78,074,896). Prints do not get their IDs this way (a till that knows the next print's ID
# could make the printer confirm it early: the StateBoard issues unpredictable ones); the
# codec stays for fixtures and for tools that want readable, ordered IDs.
_PID_BASE: Final = 94
_PID_FIRST: Final = 0x21
_PID_DIGITS: Final = 4
PID_MODULUS: Final = _PID_BASE**_PID_DIGITS


def encode_pid(k: int) -> str:
    """Counter value ``k >= 0`` -> 4 printable characters; ``k`` wraps modulo PID_MODULUS."""
    if k < 0:
        raise ValueError(f"a process ID counter is >= 0, not {k!r}")
    k %= PID_MODULUS
    digits = []
    for _ in range(_PID_DIGITS):
        k, d = divmod(k, _PID_BASE)
        digits.append(chr(_PID_FIRST + d))
    return "".join(reversed(digits))


def decode_pid(s: str) -> int:
    """Inverse of ``encode_pid`` (0 <= result < PID_MODULUS)."""
    if len(s) != _PID_DIGITS or not all(_PID_FIRST <= ord(c) < _PID_FIRST + _PID_BASE for c in s):
        raise ValueError(f"not a process ID made by encode_pid: {s!r}")
    k = 0
    for c in s:
        k = k * _PID_BASE + ord(c) - _PID_FIRST
    return k


def offline_response() -> bytes:
    """GS ( H fn 49 d=2: send ``37 23 cause… 00`` whenever the printer goes offline."""
    return b"\x1d\x28\x48\x03\x00\x31\x30\x02"


# m=2 (extended ASB) and m=5 (battery) answer with blocks this parser does not classify.
_STATUS_NOW: Final = frozenset({1, 4})


def request_status_now(m: int = 1) -> bytes:
    """DLE DC4 7 m: m=1 sends an ASB block now, m=4 an offline response, real-time."""
    if m not in _STATUS_NOW:
        raise ValueError(f"DLE DC4 7 m must be 1 or 4, not {m!r}")
    return bytes((DLE, DC4, 0x07, m))


def clear_buffers() -> bytes:
    """DLE DC4 8: clear receive and print buffers (real-time); reply ``37 25 00``.

    Process IDs still in the buffer are thrown away with it and never answer.
    """
    return b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08"


def recover(n: int) -> bytes:
    """DLE ENQ n: leave a recoverable error; n=1 reprint from the failed line, 2 clear buffers."""
    if n not in (1, 2):
        raise ValueError(f"DLE ENQ n must be 1 or 2, not {n!r}")
    return bytes((DLE, ENQ, n))


# n=1..3 (and ASCII 49..51) answer one byte 0xx0xxxx; n=65..69 a 0x5F block. Other n answer in
# formats the parser does not know.
_IDENTITY: Final = frozenset({1, 2, 3, 49, 50, 51, 65, 66, 67, 68, 69})


def identity(n: int) -> bytes:
    """GS I n: printer identity.

    The one-byte answers to n=1..3 match no reply pattern, so ``StreamParser`` reports them as
    ``Garbage``: only the sender knows that the next lone ``0xx0xxxx`` byte is the answer.
    """
    if n not in _IDENTITY:
        raise ValueError(f"GS I n must be one of {sorted(_IDENTITY)}, not {n!r}")
    return bytes((GS, 0x49, n))


_COUNTERS: Final = frozenset({20, 21, 50, 70})  # feed lines, head energizing, cuts, hours
CUMULATIVE: Final = 128


def maintenance_counter(n: int) -> bytes:
    """GS g 2: read maintenance counter n (+128 for the cumulative value); reply 0x5F block."""
    if n not in _COUNTERS and n - CUMULATIVE not in _COUNTERS:
        raise ValueError(f"unknown maintenance counter {n!r}")
    return bytes((GS, 0x67, 0x32, 0x00, n & 0xFF, n >> 8))


_REACHED: Final = frozenset({1, 2, 4, 49, 50, 52})


def status_when_reached(n: int = 1) -> bytes:
    """GS r n: status sent when the command is reached in the buffer (not real-time).

    Its one-byte answer (``0xx0xxxx``) matches no reply pattern and comes back as ``Garbage``.
    """
    if n not in _REACHED:
        raise ValueError(f"GS r n must be one of {sorted(_REACHED)}, not {n!r}")
    return bytes((GS, 0x72, n))

"""The printer's status bits: what DLE EOT replies and ASB blocks say, as ``StatusFlags``.

Both reply kinds carry fixed bits, so a byte can be recognised before it is decoded; the
bit tables follow docs/PROTOCOL.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final


@dataclass(frozen=True, slots=True)
class StatusFlags:
    """What the printer last said about itself.

    ``drawer_open`` is the level of drawer-kick connector pin 3 (high = True); whether high
    means open depends on how the drawer's switch is wired.
    """

    offline: bool = False
    cover_open: bool = False
    paper_near_end: bool = False
    paper_end: bool = False
    cutter_error: bool = False
    recoverable_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    drawer_open: bool = False
    feed_button: bool = False


# DLE EOT n reply bits -> StatusFlags field; a field is True when any bit of its mask is set.
# Each field has exactly one owner among n = 1..4, so polling n=1..4 in any order converges and
# two replies never fight over one field. Bits left out on purpose:
#   n=1 bit 5 "waiting for online recovery" and n=2 bit 6 "an error occurred" are summaries of
#     what n=3 reports in detail;
#   n=1 bit 6 "FEED button pressed" duplicates n=2 bit 3 "paper fed by FEED button", which is
#     what ASB byte 1 bit 6 reports, so n=2 owns ``feed_button``;
#   n=2 bit 5 "stopped: paper end" is the consequence of the roll-paper sensor n=4 reports.
# n=4 reports near-end and paper end on two bits each (two sensors, or a doubled bit).
DLE_EOT_FIELDS: Final[Mapping[int, tuple[tuple[int, str], ...]]] = {
    1: ((0x04, "drawer_open"), (0x08, "offline")),
    2: ((0x04, "cover_open"), (0x08, "feed_button")),
    3: (
        (0x04, "recoverable_error"),
        (0x08, "cutter_error"),
        (0x20, "unrecoverable_error"),
        (0x40, "auto_recoverable_error"),
    ),
    4: ((0x0C, "paper_near_end"), (0x60, "paper_end")),
}

# ASB block (byte index, mask, field). Byte 4 is reserved.
ASB_FIELDS: Final[tuple[tuple[int, int, str], ...]] = (
    (0, 0x04, "drawer_open"),
    (0, 0x08, "offline"),
    (0, 0x20, "cover_open"),
    (0, 0x40, "feed_button"),
    (1, 0x04, "recoverable_error"),
    (1, 0x08, "cutter_error"),
    (1, 0x20, "unrecoverable_error"),
    (1, 0x40, "auto_recoverable_error"),
    (2, 0x03, "paper_near_end"),
    (2, 0x0C, "paper_end"),
)

# Fixed bits: a DLE EOT reply is 0xx1xx10, an ASB first byte 0xx1xx00, ASB bytes 2-4 0xx0xxxx.
_FIXED_MASK: Final = 0x93
_DLE_EOT_PATTERN: Final = 0x12
_ASB_FIRST_PATTERN: Final = 0x10
_ASB_REST_MASK: Final = 0x90


def is_dle_eot_reply(b: int) -> bool:
    """True for a byte of the DLE EOT reply pattern ``0xx1xx10``."""
    return b & _FIXED_MASK == _DLE_EOT_PATTERN


def is_asb_first(b: int) -> bool:
    """True for a byte of the ASB first-byte pattern ``0xx1xx00``."""
    return b & _FIXED_MASK == _ASB_FIRST_PATTERN


def is_asb_rest(b: int) -> bool:
    """True for a byte that can be ASB byte 2, 3 or 4 (pattern ``0xx0xxxx``)."""
    return b & _ASB_REST_MASK == 0


def flags_from_asb(raw4: bytes) -> StatusFlags:
    """Decode a 4-byte ASB block. ValueError if it does not have the ASB bit pattern."""
    if len(raw4) != 4 or not is_asb_first(raw4[0]) or not all(map(is_asb_rest, raw4[1:])):
        raise ValueError(f"not an ASB block: {raw4.hex(' ')}")
    return StatusFlags(**{field: bool(raw4[i] & mask) for i, mask, field in ASB_FIELDS})


def merge_dle_eot(flags: StatusFlags, n: int, value: int) -> StatusFlags:
    """Replace the fields that DLE EOT ``n`` reports with its reply ``value``; keep the others."""
    table = DLE_EOT_FIELDS.get(n)
    if table is None:
        raise ValueError(f"DLE EOT n must be 1..4, not {n!r}")
    if not 0 <= value <= 0xFF or not is_dle_eot_reply(value):
        raise ValueError(f"not a DLE EOT reply byte: {value!r}")
    return replace(flags, **{field: bool(value & mask) for mask, field in table})

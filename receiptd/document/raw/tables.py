"""Which raw ESC/POS commands are allowed, and why the others are not.

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
* GS ( A: a self-test print is not receipt content;
* FS C and FS ( C: they change how the printer splits later bytes into characters (JIS or
  Shift_JIS pairs, UTF-8), and may outlive the receipt; the check could not follow them.

Checked as the printer reads them rather than refused: text in a double-byte mode
(``receiptd.document.raw.text``; ``FS &`` must be undone by ``FS .`` before the end), and the
commands whose end a printer finds by itself (``ESC D``, ``GS k`` with a NUL), which pass only
in the form every printer ends at the same byte.

Allowed on purpose: ESC @ (a volatile reset of print modes; whether it also resets ASB or the
offline response on every model is not verified, so the daemon should not rely on them
surviving a raw part), FS p and GS ( L fn 69 (print an NV image already stored: reads NV
memory, writes nothing), download (RAM) graphics and print-buffer graphics, ESC p (drawer
kick).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from receiptd.document.raw.syntax import (
    Family,
    Fixed,
    Forbidden,
    Spec,
    Var,
    bad,
    esc_amp,
    esc_d,
    esc_star,
    forbid,
    gs_cut,
    gs_k,
    gs_star,
    gs_v,
    prefixed,
    setting,
)


def _gs_paren_k_check(name: str, start: int, body: bytes, length: int) -> None:
    # body: cn fn ...; fn 82 "transmit size information" answers on the reply stream.
    if len(body) >= 2 and body[1] == 82:
        raise forbid(f"{name} fn 82", start, "it sends a reply on the status stream")


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
        raise bad(name, start, "no function code")
    if len(body) < 2:
        return  # cut off: the caller reports it as truncated
    fn = body[1]
    if fn not in _GRAPHICS_ALLOWED:
        raise forbid(
            f"{name} fn {fn}",
            start,
            "NV graphics definitions and graphics replies are reserved (only print-buffer,"
            " download-graphics and NV-print functions pass)",
        )


_REPLY: Final = "it sends a reply on the status stream, which the daemon owns"
_NV: Final = "it writes the printer's non-volatile memory or configuration"
_SPLIT: Final = (
    "it changes how the printer splits the bytes after it into characters (Kanji code system,"
    " UTF-8), which the check cannot follow and which may outlast the receipt"
)

_GS_PAREN: Final[Mapping[int, Spec]] = {
    0x41: Forbidden("GS ( A", "a self-test print is not receipt content"),
    0x43: Forbidden("GS ( C", f"NV user memory: {_NV}"),
    0x44: Forbidden("GS ( D", "it can disable real-time commands, blinding the daemon"),
    0x45: Forbidden("GS ( E", f"user-setting mode / memory switches: {_NV}"),
    0x46: Forbidden("GS ( F", f"cut / print position adjustment: {_NV}"),
    0x48: Forbidden("GS ( H", "process IDs and offline responses are the daemon's"),
    # print control: density, speed, head divisions (volatile)
    0x4B: setting("GS ( K", range(2, 3), frozenset({48, 49, 50, 97})),
    0x4C: prefixed("GS ( L", _graphics_check),
    0x4D: Forbidden("GS ( M", f"customize setting values: {_NV}"),
    0x4E: setting("GS ( N", range(2, 4), frozenset({48, 49, 50})),  # colour, shading
    0x6B: prefixed("GS ( k", _gs_paren_k_check),  # 2D symbols: QR, PDF417, ...
}

_GS_8: Final[Mapping[int, Spec]] = {0x4C: prefixed("GS 8 L", _graphics_check, width=4)}

_FS_PAREN: Final[Mapping[int, Spec]] = {
    0x41: setting("FS ( A", range(2, 3), frozenset({48})),  # kanji font
    0x43: Forbidden("FS ( C", _SPLIT),
    0x45: Forbidden("FS ( E", f"receipt enhancement: {_NV}"),
    0x4C: Forbidden("FS ( L", f"paper layout: {_NV}; {_REPLY}"),
    0x65: Forbidden("FS ( e", f"ASB for optional functions: {_REPLY}"),
}

_ESC_PAREN: Final[Mapping[int, Spec]] = {
    0x41: setting("ESC ( A", range(3, 6), frozenset({48, 97, 98, 99})),  # beeper
}

_ESC: Final[Mapping[int, Spec]] = {
    0x0C: Fixed("ESC FF", 0),
    0x20: Fixed("ESC SP", 1),
    0x21: Fixed("ESC !", 1),
    0x24: Fixed("ESC $", 2),
    0x25: Fixed("ESC %", 1),
    0x26: Var("ESC &", esc_amp),
    0x28: Family(_ESC_PAREN),
    0x2A: Var("ESC *", esc_star),
    0x2D: Fixed("ESC -", 1),
    0x32: Fixed("ESC 2", 0),
    0x33: Fixed("ESC 3", 1),
    0x3C: Fixed("ESC <", 0),
    0x3D: Forbidden("ESC =", "a deselected printer ignores everything after it"),
    0x3F: Fixed("ESC ?", 1),
    0x40: Fixed("ESC @", 0),
    0x44: Var("ESC D", esc_d),
    0x45: Fixed("ESC E", 1),
    0x47: Fixed("ESC G", 1),
    0x4A: Fixed("ESC J", 1),
    0x4B: Fixed("ESC K", 1),
    0x4C: Forbidden("ESC L", "page mode holds the print back until FF"),
    0x4D: Fixed("ESC M", 1),
    0x52: Fixed("ESC R", 1),
    0x53: Fixed("ESC S", 0),
    0x54: Fixed("ESC T", 1),
    0x55: Fixed("ESC U", 1),
    0x56: Fixed("ESC V", 1),
    0x57: Fixed("ESC W", 8),
    0x5C: Fixed("ESC \\", 2),
    0x61: Fixed("ESC a", 1),
    0x63: Fixed("ESC c", 2),  # ESC c 0/1/3/4/5 n
    0x64: Fixed("ESC d", 1),
    0x65: Fixed("ESC e", 1),
    0x69: Fixed("ESC i", 0),
    0x6D: Fixed("ESC m", 0),
    0x70: Fixed("ESC p", 3),
    0x72: Fixed("ESC r", 1),
    0x74: Fixed("ESC t", 1),
    0x75: Forbidden("ESC u", _REPLY),
    0x76: Forbidden("ESC v", _REPLY),
    0x7B: Fixed("ESC {", 1),
}

_GS: Final[Mapping[int, Spec]] = {
    0x21: Fixed("GS !", 1),
    0x24: Fixed("GS $", 2),
    0x28: Family(_GS_PAREN),
    0x2A: Var("GS *", gs_star),
    0x2F: Fixed("GS /", 1),
    0x38: Family(_GS_8),
    0x3A: Forbidden("GS :", "an unterminated macro definition swallows what follows"),
    0x42: Fixed("GS B", 1),
    0x44: Forbidden("GS D", f"Windows BMP NV graphics: {_NV}"),
    0x48: Fixed("GS H", 1),
    0x49: Forbidden("GS I", _REPLY),
    0x4C: Fixed("GS L", 2),
    0x50: Fixed("GS P", 2),
    0x54: Fixed("GS T", 1),
    0x56: Var("GS V", gs_cut),
    0x57: Fixed("GS W", 2),
    0x5C: Fixed("GS \\", 2),
    0x5E: Forbidden("GS ^", "macro execution can wait for the FEED button"),
    0x61: Forbidden("GS a", "Automatic Status Back is the daemon's"),
    0x62: Fixed("GS b", 1),
    0x66: Fixed("GS f", 1),
    0x67: Forbidden("GS g", f"maintenance counters: {_NV}; {_REPLY}"),
    0x68: Fixed("GS h", 1),
    0x6A: Forbidden("GS j", f"ASB for ink: {_REPLY}"),
    0x6B: Var("GS k", gs_k),
    0x72: Forbidden("GS r", _REPLY),
    0x76: Var("GS v", gs_v),
    0x77: Fixed("GS w", 1),
}

_FS: Final[Mapping[int, Spec]] = {
    0x21: Fixed("FS !", 1),
    0x26: Fixed("FS &", 0),
    0x28: Family(_FS_PAREN),
    0x2D: Fixed("FS -", 1),
    0x2E: Fixed("FS .", 0),
    0x43: Forbidden("FS C", _SPLIT),
    0x53: Fixed("FS S", 2),
    0x57: Fixed("FS W", 1),
    0x67: Forbidden("FS g", f"NV user memory: {_NV}; {_REPLY}"),
    0x70: Fixed("FS p", 2),  # print a stored NV image: reads NV memory only
    0x71: Forbidden("FS q", f"NV bit image definition: {_NV}"),
}

# After a DLE: the real-time commands, refused wherever they start a command.
_REALTIME_REASON: Final = "real-time commands are the daemon's"
DLE_COMMANDS: Final[Mapping[int, Forbidden]] = {
    0x04: Forbidden("DLE EOT", f"{_REALTIME_REASON} (status request)"),
    0x05: Forbidden("DLE ENQ", f"{_REALTIME_REASON} (error recovery)"),
    0x14: Forbidden("DLE DC4", f"{_REALTIME_REASON} (pulse, power off, clear buffers, ...)"),
}

# The byte that opens a command (ESC, FS, GS) -> the table for the byte after it.
PREFIXES: Final[Mapping[int, Mapping[int, Spec]]] = {
    0x1B: _ESC,
    0x1C: _FS,
    0x1D: _GS,
}

"""Differential fuzzing of the raw filter against the emulator's interpreter, the long run.

    python bench/raw_fuzz.py [--seconds 600] [--batch 200] [--corpus accepted.hex]

Hypothesis generates raw ESC/POS, biased towards command prefixes (ESC, GS, FS, DLE) and the
constructs where a printer and a filter can part ways: Kanji mode and double-byte text,
commands whose data hides a ``GS ( H`` or a real-time command, ``GS k`` and ``ESC D`` that
end where the printer decides, length fields, the first and last byte of the raw part. What
``check_raw`` accepts is printed on a fresh emulated printer (``receiptd.emulator.model``,
which imports nothing of the daemon) exactly as the daemon would send it: the real prologue of
a profile, sometimes a marker section, the raw bytes, then the daemon's own ``GS a`` and
``GS ( H``. The printer must then have run nothing from the raw part but allowed commands, no
real-time command and no process-ID request, must have sent nothing the same receipt without
the raw part would not have sent, and must still have read the daemon's two commands as
commands. Each emulated printer uses one of the double-byte sets a model may have.

Prints the counts (examples, accepted, rejected by code, findings) as JSON; exits 1 on a
finding. ``--corpus`` also writes every accepted input (hex, one per line): raw receipts that
pass the filter, for a torture run to print. ``tests/document/test_raw_differential.py`` runs
the same check on a bounded budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiptd import protocol
from receiptd.document.raw import check_raw
from receiptd.emulator.commands import Command
from receiptd.emulator.model import PrinterConfig, PrinterModel
from receiptd.errors import RawRejected
from receiptd.render import interrupted_marker, marker_section, prologue
from receiptd.render.profiles import Profile, get_profile

# The profiles whose prologues differ in kind: code page 0, CP1252 (ESC t 16 ends in 10),
# a Chinese printer (FS .), a Japanese one (FS C 1, FS .).
PROFILES: dict[str, Profile] = {
    "cp437": get_profile("TM-T88V"),
    "cp1252": get_profile("TM-T88V", {"encoding": "CP1252"}),
    "gb18030": get_profile("TM-T88V", {"double_byte": "gb18030"}),
    "shift_jis": get_profile("TM-T88V", {"double_byte": "shift_jis"}),
}
# The double-byte set of the emulated printer's Kanji mode (its model).
CJK = ("gb18030", "big5", "shift_jis", "jis", "ksc5601")
SENTINEL = "Zq~!"  # the daemon's process ID after the raw part
SUFFIX = protocol.enable_asb() + protocol.process_id(SENTINEL)
MARKER = interrupted_marker(2, None)

# What a raw part may make the printer do, by the emulator's command names (the policy of
# docs/PROTOCOL.md, "What raw input may not contain"): print, move paper, cut, set a volatile
# mode, define RAM graphics, kick the drawer.
ALLOWED: frozenset[str] = frozenset({
    "text", "lf", "cr", "ht", "control",
    # ESC
    "page_print", "char_spacing", "print_mode", "abs_position", "user_charset", "underline",
    "line_spacing_default", "line_spacing", "return_home", "cancel_user_char", "init", "bold",
    "double_strike", "feed_dots", "reverse_feed_dots", "font", "intl_charset",
    "standard_mode", "print_direction", "unidirectional", "rotate", "page_area",
    "rel_position", "align", "panel_sensor", "feed_lines", "reverse_feed_lines",
    "cut_legacy_full", "cut_legacy_partial", "drawer", "color", "codepage", "upside_down",
    "bit_image", "tabs", "define_user_chars", "ESC(A",
    # GS
    "char_size", "abs_vposition", "print_downloaded_image", "reverse", "hri_position",
    "left_margin", "motion_units", "line_start", "area_width", "smoothing", "hri_font",
    "barcode_height", "barcode_width", "cut", "barcode", "raster", "define_downloaded_image",
    "GS(K", "GS(N", "GS(k", "GS(L",
    # FS (Kanji mode on and off; the code system stays the model's)
    "kanji_print_mode", "kanji_on", "kanji_underline", "kanji_off", "kanji_spacing",
    "kanji_quad", "print_nv_image", "FS(A",
})
# GS ( L / GS 8 L functions that neither answer nor write NV memory.
GRAPHICS_FUNCTIONS = frozenset({1, 2, 49, 50, 69, 81, 82, 83, 84, 85, 112, 113})


def allowed(name: str, payload: bytes) -> bool:
    if name == "GS(L":
        return len(payload) >= 2 and payload[1] in GRAPHICS_FUNCTIONS
    if name == "GS(k":
        return not (len(payload) >= 2 and payload[1] == 82)  # fn 82 transmits
    return name in ALLOWED


# -- the printer --------------------------------------------------------------------------


@dataclass
class Printed:
    commands: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    realtime: list[bytes] = field(default_factory=list)
    output: bytes = b""
    pending: int = 0  # bytes still in the receive buffer (a command waiting for more)


def _instrument(model: PrinterModel, seen: Printed) -> None:
    """Record every command the interpreter runs and every real-time command on arrival."""
    execute = model.interpreter.execute
    realtime = model._realtime

    def run(cmd: Command, payload: bytes) -> None:
        seen.commands.append((cmd.name, cmd.header, payload))
        execute(cmd, payload)

    def on_arrival(seq: bytes, now: float) -> None:
        seen.realtime.append(seq)
        realtime(seq, now)

    model.interpreter.execute = run  # type: ignore[method-assign]
    model._realtime = on_arrival  # type: ignore[method-assign]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def tick(self) -> float:
        self.now += 60.0  # print time is of no interest here: every step finishes what it can
        return self.now


def _print(model: PrinterModel, clock: _Clock, data: bytes) -> None:
    idle = 0
    while data:
        taken = model.feed(data, clock.tick())
        data = data[taken:]
        idle = 0 if taken else idle + 1
        if idle > 3:
            raise RuntimeError("the emulated printer stopped reading")
    for _ in range(8):
        model.advance(clock.tick())


def print_receipt(head: bytes, raw: bytes, cjk: str) -> Printed:
    """What the printer ran for the raw part and the daemon's suffix, after ``head`` (the
    prologue and the marker section)."""
    model = PrinterModel(PrinterConfig(cjk=cjk, speed_mm_s=10_000.0), now=0.0)
    clock, seen = _Clock(), Printed()
    _print(model, clock, head)
    model.take_output()
    _instrument(model, seen)
    _print(model, clock, raw + SUFFIX)
    seen.output = model.take_output()
    seen.pending = model.buffer.used
    return seen


_BASELINE: dict[tuple[str, str, bool], bytes] = {}


def head_for(profile: str, marked: bool) -> bytes:
    p = PROFILES[profile]
    return prologue(p) + (marker_section(MARKER, p) if marked else b"")


def findings(raw: bytes, profile: str, cjk: str, marked: bool) -> list[str]:
    """What went wrong when the printer ran ``raw`` (which the filter accepted)."""
    head = head_for(profile, marked)
    key = (profile, cjk, marked)
    if key not in _BASELINE:
        _BASELINE[key] = print_receipt(head, b"", cjk).output
    seen = print_receipt(head, raw, cjk)
    problems = [f"real-time command {seq.hex(' ')}" for seq in seen.realtime]
    tail = seen.commands[-2:]
    expected_tail = [("asb", SUFFIX[:3]), ("GS(H", b"\x30\x30" + SENTINEL.encode())]
    if [(n, h if n == "asb" else p) for n, h, p in tail] != expected_tail or seen.pending:
        problems.append("the daemon's GS a and GS ( H were not read as commands")
    body = seen.commands[:-2] if len(tail) == 2 else seen.commands
    problems += [f"ran {name} {header.hex(' ')} {payload[:12].hex(' ')}"
                 for name, header, payload in body if not allowed(name, payload)]
    if seen.output != _BASELINE[key]:
        problems.append(f"sent {seen.output.hex(' ')} (expected {_BASELINE[key].hex(' ')})")
    return problems


# -- generated raw input -----------------------------------------------------------------------

ESC, GS, FS, DLE = b"\x1b", b"\x1d", b"\x1c", b"\x10"
PID = protocol.process_id("AB" + "CD")
HIDDEN = [  # what a raw part must never get the printer to run
    PID, GS + b"a\x4f", GS + b"I\x43", GS + b"r\x01", GS + b"(E\x03\x00\x01IN",
    DLE + b"\x04\x01", DLE + b"\x14\x01\x00\x05", DLE + b"\x14\x08\x01\x03\x14\x01\x06\x02\x08",
    DLE + b"\x05\x02", GS + b"g2\x00\x14\x00",
]


def u16(n: int) -> bytes:
    return bytes([n & 0xFF, n >> 8 & 0xFF])


@st.composite
def fragment(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([
        "ascii", "ascii", "high", "lead", "jis", "kanji_on", "kanji_off", "fs_c", "control",
        "prefix", "prefix", "fixed", "hidden", "gs_paren", "gs_paren", "barcode_a",
        "barcode_b", "tabs", "qr", "raster", "esc_star", "user_chars", "realtime", "binary",
        "smuggle", "smuggle",
    ]))
    data = st.binary(max_size=16)
    if kind == "ascii":
        return draw(st.binary(max_size=12).map(lambda b: bytes(0x20 + c % 95 for c in b)))
    if kind == "high":
        return draw(st.binary(min_size=1, max_size=6).map(lambda b: bytes(c | 0x80 for c in b)))
    if kind == "lead":  # a GB18030 four-byte lead, or a pair
        return bytes([draw(st.integers(0x81, 0xFE)), draw(st.integers(0x30, 0x39))])
    if kind == "jis":
        return draw(st.binary(min_size=1, max_size=5).map(
            lambda b: bytes(0x21 + c % 94 for c in b)))
    if kind == "kanji_on":
        return FS + b"&"
    if kind == "kanji_off":
        return FS + b"."
    if kind == "fs_c":
        return FS + b"C" + bytes([draw(st.sampled_from([0, 1, 2, 48, 49]))])
    if kind == "control":
        return bytes([draw(st.sampled_from([0x00, 0x0A, 0x0D, 0x09, 0x0C, 0x18, 0x04, 0x05,
                                            0x14, 0x10]))])
    if kind == "prefix":
        head = draw(st.sampled_from([ESC, GS, FS, DLE, GS + b"(", FS + b"(", ESC + b"(",
                                     GS + b"8", GS + b"k", ESC + b"D", GS + b"v0"]))
        return head + draw(st.binary(max_size=5))
    if kind == "fixed":
        return draw(st.sampled_from([ESC + b"@", ESC + b"!\x00", ESC + b"E\x01", GS + b"!\x11",
                                     ESC + b"d\x02", GS + b"V\x00", GS + b"VA\x03",
                                     ESC + b"p\x00\x19\xfa", ESC + b"t\x10", ESC + b"t\x00",
                                     FS + b"!\x00", GS + b"h\x50"]))
    if kind == "hidden":
        return draw(st.sampled_from(HIDDEN))
    if kind == "gs_paren":  # a length-prefixed command whose data may hide a command
        letter = draw(st.sampled_from(b"KNkLAH"))
        body = draw(st.one_of(data, st.sampled_from(HIDDEN), st.just(b"\x31\x03")))
        head = draw(st.sampled_from([GS + b"(", FS + b"(", ESC + b"(", GS + b"8"]))
        width = 4 if head == GS + b"8" else 2
        fn = draw(st.sampled_from([b"", b"\x30", b"\x31", b"\x30\x50\x30", b"\x30\x70"]))
        length = len(fn + body) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        return head + bytes([letter]) + max(length, 0).to_bytes(width, "little") + fn + body
    if kind == "barcode_a":
        m = draw(st.integers(0, 6))
        body = draw(st.one_of(st.binary(max_size=8).map(lambda b: bytes(0x30 + c % 10 for c in b)),
                              st.sampled_from(HIDDEN), st.just(b"A" * 300)))
        return GS + b"k" + bytes([m]) + body + draw(st.sampled_from([b"\x00", b""]))
    if kind == "barcode_b":
        body = draw(st.one_of(data, st.sampled_from(HIDDEN)))
        n = len(body) + draw(st.sampled_from([0, 0, -1, 1]))
        return GS + b"k" + bytes([draw(st.integers(65, 79)), max(n, 0)]) + body
    if kind == "tabs":
        tabs = draw(st.lists(st.integers(1, 255), max_size=36))
        if draw(st.booleans()):
            tabs = sorted(set(tabs))
        return ESC + b"D" + bytes(tabs) + draw(st.sampled_from([b"\x00", b""]))
    if kind == "qr":
        body = draw(st.one_of(data, st.sampled_from(HIDDEN)))
        return GS + b"(k" + u16(len(body) + 3) + b"\x31\x50\x30" + body
    if kind == "raster":
        x, y = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        body = draw(st.one_of(st.binary(min_size=x * y, max_size=x * y),
                              st.sampled_from(HIDDEN)))
        return GS + b"v0" + bytes([draw(st.sampled_from([0, 3, 48, 7]))]) + u16(x) + u16(y) + body
    if kind == "esc_star":
        n = draw(st.integers(0, 4))
        m = draw(st.sampled_from([0, 1, 32, 33, 2]))
        return ESC + b"*" + bytes([m]) + u16(n) + draw(st.binary(max_size=n * 3 + 2))
    if kind == "user_chars":
        y, c1, count = draw(st.integers(0, 4)), draw(st.integers(0x1E, 0x7E)), draw(
            st.integers(0, 2))
        out = ESC + b"&" + bytes([y, c1, min(c1 + count, 255)])
        for _ in range(count + 1):
            x = draw(st.integers(0, 13))
            out += bytes([x]) + draw(st.binary(min_size=x * y, max_size=x * y))
        return out
    if kind == "smuggle":  # text that may swallow the start of a command hiding another one
        mode = draw(st.sampled_from([b"", FS + b"&"]))
        text = draw(st.sampled_from([
            bytes([draw(st.integers(0x81, 0xFE)), draw(st.integers(0x30, 0x39))]),
            bytes([draw(st.integers(0x21, 0x7E))]), bytes([draw(st.integers(0x80, 0xFF))]),
        ]))
        hidden = draw(st.sampled_from(HIDDEN))
        wrapper = draw(st.sampled_from([GS + b"(K", GS + b"(N", GS + b"(k", ESC + b"(A",
                                        FS + b"(A", GS + b"(L"]))
        return mode + text + wrapper + u16(len(hidden)) + hidden
    if kind == "realtime":
        return draw(st.sampled_from([DLE + b"\x04\x01", DLE, b"\x04\x01", b"\x14\x01\x00\x05",
                                     b"\x05\x02", DLE + b"\x10"]))
    return draw(st.binary(max_size=24))


@st.composite
def well_formed(draw: st.DrawFn) -> bytes:
    """A fragment the filter should accept on its own, so that most inputs reach the printer
    and the odd fragment() among them lands between real commands."""
    kind = draw(st.sampled_from(["text", "gb", "kanji", "fixed", "qr", "raster", "esc_star",
                                 "tabs", "barcode_a", "barcode_b", "graphics", "user_chars"]))
    if kind == "text":
        return draw(st.binary(max_size=16).map(lambda b: bytes(0x20 + c % 95 for c in b))) + b"\n"
    if kind == "gb":  # GBK pairs and whole four-byte characters
        pairs = draw(st.lists(st.one_of(
            st.tuples(st.integers(0x81, 0xFE), st.integers(0x40, 0xFE)).map(bytes),
            st.tuples(st.integers(0x81, 0xFE), st.integers(0x30, 0x39), st.integers(0x81, 0xFE),
                      st.integers(0x30, 0x39)).map(bytes)), max_size=4))
        return b"".join(pairs) + b"\n"
    if kind == "kanji":
        inner = draw(st.lists(st.tuples(st.integers(0xA1, 0xFE), st.integers(0xA1, 0xFE))
                              .map(bytes), max_size=3))
        return FS + b"&" + b"".join(inner) + b"\n" + FS + b"."
    if kind == "fixed":
        return draw(
            st.sampled_from([ESC + b"@", ESC + b"!\x08", ESC + b"a\x01", GS + b"V\x00",
                             GS + b"VB\x02", ESC + b"d\x01", ESC + b"p\x00\x19\xfa",
                             GS + b"h\x40", GS + b"w\x02", FS + b"!\x04"]))
    if kind == "qr":
        body = draw(st.binary(max_size=20)).replace(DLE, b"\x11")
        store = GS + b"(k" + u16(len(body) + 3) + b"\x31\x50\x30" + body
        return store + GS + b"(k\x03\x00\x31\x51\x30"
    if kind == "raster":
        x, y = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        body = draw(st.binary(min_size=x * y, max_size=x * y)).replace(DLE, b"\x11")
        return GS + b"v0\x00" + u16(x) + u16(y) + body
    if kind == "esc_star":
        n = draw(st.integers(1, 4))
        return ESC + b"*\x21" + u16(n) + draw(st.binary(min_size=3 * n, max_size=3 * n)).replace(
            DLE, b"\x11")
    if kind == "tabs":
        return ESC + b"D" + bytes(sorted(draw(st.sets(st.integers(1, 255), max_size=8)))) + b"\x00"
    if kind == "barcode_a":
        return GS + b"k\x04" + draw(st.binary(min_size=1, max_size=12).map(
            lambda b: bytes(0x30 + c % 10 for c in b))) + b"\x00"
    if kind == "barcode_b":
        body = draw(st.binary(max_size=12)).replace(DLE, b"\x11")
        return GS + b"kI" + bytes([len(body)]) + body
    if kind == "graphics":
        body = b"\x30\x70\x30\x01\x01\x31\x08\x00\x01\x00" + draw(st.binary(
            min_size=1, max_size=1)).replace(DLE, b"\x11")
        return GS + b"(L" + u16(len(body)) + body + GS + b"(L\x02\x00\x30\x32"
    c1 = draw(st.integers(0x20, 0x7C))
    out = ESC + b"&\x03" + bytes([c1, c1 + 1])
    for _ in range(2):
        x = draw(st.integers(0, 3))
        out += bytes([x]) + draw(st.binary(min_size=3 * x, max_size=3 * x)).replace(DLE, b"\x11")
    return out


raw_input = st.one_of(
    st.lists(fragment(), min_size=1, max_size=10),
    st.lists(st.one_of(well_formed(), well_formed(), well_formed(), fragment()),
             min_size=1, max_size=10),
).map(b"".join)
case = st.tuples(raw_input, st.sampled_from(sorted(PROFILES)), st.sampled_from(CJK),
                 st.booleans())


@dataclass
class Tally:
    examples: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    found: list[dict[str, object]] = field(default_factory=list)
    corpus: list[bytes] | None = None  # accepted inputs, when asked for

    def as_dict(self) -> dict[str, object]:
        return {"examples": self.examples, "accepted": self.accepted,
                "rejected": dict(self.rejected.most_common()), "findings": len(self.found),
                "first_findings": self.found[:10]}


def check_case(tally: Tally, raw: bytes, profile: str, cjk: str, marked: bool) -> list[str]:
    """Run one case: filter, then (if accepted) the printer. Returns the findings."""
    tally.examples += 1
    try:
        check_raw(raw)
    except RawRejected as exc:
        tally.rejected[exc.code] += 1
        return []
    tally.accepted += 1
    if tally.corpus is not None:
        tally.corpus.append(raw)
    problems = findings(raw, profile, cjk, marked)
    if problems:
        tally.found.append({"raw": raw.hex(" "), "profile": profile, "cjk": cjk,
                            "marked": marked, "problems": problems})
    return problems


def batch(tally: Tally, examples: int, stop: Callable[[], bool]) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case)
    def run(c: tuple[bytes, str, str, bool]) -> None:
        if not stop():
            check_case(tally, *c)

    run()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--corpus", type=Path, help="write the accepted inputs here (hex lines)")
    a = p.parse_args()
    tally = Tally(corpus=[] if a.corpus else None)
    started = time.monotonic()
    deadline = started + a.seconds
    while time.monotonic() < deadline:
        batch(tally, a.batch, lambda: time.monotonic() >= deadline)
    out = {**tally.as_dict(), "seconds": round(time.monotonic() - started, 1)}
    if a.corpus and tally.corpus is not None:
        a.corpus.write_text("".join(raw.hex() + "\n" for raw in dict.fromkeys(tally.corpus)))
        out["corpus"] = str(a.corpus)
    print(json.dumps(out, indent=2))
    return 1 if tally.found else 0


if __name__ == "__main__":
    sys.exit(main())

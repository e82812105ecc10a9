"""receiptd.document.raw: byte fixtures per command, and hypothesis properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from receiptd.document.raw import check_raw
from receiptd.errors import ClientError, RawRejected

H = bytes.fromhex

ALLOWED: list[tuple[str, str]] = [
    ("empty", ""),
    ("text", "48 65 6c 6c 6f 0a"),
    ("controls", "09 0a 0c 0d 18 00"),
    ("lone dle mid-text", "41 10 41"),
    ("init", "1b 40"),
    ("style", "1b 21 08 1b 45 01 1b 2d 02 1d 21 11 1d 42 01 1b 61 01 1b 74 11"),
    ("line spacing", "1b 33 18 1b 32"),
    ("feed", "1b 64 03 1b 4a 20"),
    ("cut full", "1d 56 00"),
    ("cut feed", "1d 56 42 03"),
    ("cut at position", "1d 56 61 00 1d 56 67 05"),
    ("drawer kick", "1b 70 00 19 fa"),
    ("ESC * 24-dot", "1b 2a 21 02 00 01 02 03 04 05 06"),
    ("ESC * 8-dot", "1b 2a 00 03 00 1b 1d 1c"),  # data bytes look like prefixes
    ("raster", "1d 76 30 00 02 00 02 00 1b 40 1d 61"),
    ("raster empty", "1d 76 30 30 00 00 05 00"),
    ("QR model", "1d 28 6b 04 00 31 41 32 00"),
    ("QR store", "1d 28 6b 07 00 31 50 30 41 42 43 44"),
    ("QR print", "1d 28 6b 03 00 31 51 30"),
    ("graphics store raster", "1d 28 4c 0b 00 30 70 30 01 01 31 08 00 01 00 ff"),
    ("graphics print", "1d 28 4c 02 00 30 32"),
    ("graphics print NV", "1d 28 4c 06 00 30 45 20 20 01 01"),
    ("graphics 8 L store", "1d 38 4c 0b 00 00 00 30 70 30 01 01 31 08 00 01 00 ff"),
    ("download graphics define", "1d 38 4c 0c 00 00 00 30 53 30 20 20 01 08 00 01 00 31 ff"),
    ("barcode form 1", "1d 6b 04 41 42 43 00"),
    ("barcode form 2", "1d 6b 49 05 7b 42 31 32 33"),
    ("barcode settings", "1d 68 50 1d 77 02 1d 48 02 1d 66 00"),
    ("NV print (FS p)", "1c 70 01 00"),
    ("user chars", "1b 26 03 41 42 02 01 02 03 04 05 06 01 07 08 09 1b 25 01"),
    ("tabs", "1b 44 08 18 00"),
    ("tabs, 32 ascending", "1b 44" + "".join(f" {n:02x}" for n in range(7, 7 * 33, 7)) + " 00"),
    ("downloaded bit image", "1d 2a 01 01 00 00 00 00 00 00 00 00 1d 2f 00"),
    ("beeper", "1b 28 41 04 00 30 30 01 01"),
    ("print control", "1d 28 4b 02 00 31 03"),
    ("kanji", "1c 26 1c 21 00 d6 d0 ce c4 0a 1c 2e"),
    ("kanji font", "1c 28 41 02 00 30 01"),
    ("character colour", "1d 28 4e 02 00 30 31"),
    ("accent before a command", "43 61 66 e9 1b 45 00 0a"),  # "Caf\xe9" then bold off
    ("GBK pair before digits", "ba cf bc c6 31 32 0a"),
    ("GB18030 four-byte character whole", "81 30 81 30 0a"),
    ("digit after a high byte, kept apart", "fc 31 20 20 0a"),
    ("kanji mode with even JIS pairs", "1c 26 d6 d0 3a 31 0a 1c 2e"),
    ("page-mode-only commands", "1b 57 00 00 00 00 00 02 00 01 1d 24 00 00 1b 0c"),
    ("image data with 10 00", "1d 76 30 00 01 00 02 00 10 00"),
]


@pytest.mark.parametrize("data", [d for _, d in ALLOWED], ids=[n for n, _ in ALLOWED])
def test_allowed(data: str) -> None:
    raw = H(data)
    assert check_raw(raw) is raw


REJECTED: list[tuple[str, str, str, str]] = [
    # name, data, code, text the message must contain
    ("GS ( E", "1b 40 1d 28 45 03 00 01 49 4e", "raw_forbidden_command", "GS ( E at offset 2"),
    ("DLE DC4 2 power off", "10 14 02 01 08", "raw_forbidden_command", "DLE DC4 at offset 0"),
    ("DLE DC4 1 pulse", "41 10 14 01 00 05", "raw_forbidden_command", "DLE DC4 at offset 1"),
    ("DLE EOT", "10 04 01", "raw_forbidden_command", "DLE EOT"),
    ("DLE ENQ", "10 05 02", "raw_forbidden_command", "DLE ENQ"),
    ("GS ( C", "1d 28 43 05 00 00 30 20 20 20", "raw_forbidden_command", "GS ( C"),
    ("FS q", "1c 71 01 01 00 01 00 ff ff ff ff ff ff ff ff", "raw_forbidden_command", "FS q"),
    (
        "GS ( L define NV",
        "1d 28 4c 06 00 30 43 30 20 20 01",
        "raw_forbidden_command",
        "GS ( L fn 67",
    ),
    ("GS ( L delete NV", "1d 28 4c 05 00 30 41 43 4c 52", "raw_forbidden_command", "GS ( L fn 65"),
    ("GS ( L capacity reply", "1d 28 4c 02 00 30 30", "raw_forbidden_command", "GS ( L fn 48"),
    (
        "GS 8 L define NV",
        "1d 38 4c 06 00 00 00 30 44 30 20 20 01",
        "raw_forbidden_command",
        "GS 8 L fn 68",
    ),
    ("GS ( D", "1d 28 44 05 00 14 01 00 02 00", "raw_forbidden_command", "GS ( D"),
    ("GS a", "1d 61 00", "raw_forbidden_command", "GS a at offset 0"),
    ("GS ( H", "1d 28 48 06 00 30 30 41 42 43 44", "raw_forbidden_command", "GS ( H"),
    ("ESC =", "1b 3d 02", "raw_forbidden_command", "ESC ="),
    ("ESC L page mode", "1b 4c", "raw_forbidden_command", "ESC L"),
    ("ESC u", "1b 75 00", "raw_forbidden_command", "ESC u"),
    ("ESC v", "1b 76", "raw_forbidden_command", "ESC v"),
    ("GS I", "1d 49 01", "raw_forbidden_command", "GS I"),
    ("GS r", "1d 72 01", "raw_forbidden_command", "GS r"),
    ("GS g 2", "1d 67 32 00 32 00", "raw_forbidden_command", "GS g"),
    ("GS g 0", "1d 67 30 00 32 00", "raw_forbidden_command", "GS g"),
    ("GS j", "1d 6a 01", "raw_forbidden_command", "GS j"),
    ("GS ( k transmit", "1d 28 6b 03 00 31 52 30", "raw_forbidden_command", "GS ( k fn 82"),
    ("GS ( A", "1d 28 41 02 00 00 02", "raw_forbidden_command", "GS ( A"),
    ("GS ( M", "1d 28 4d 02 00 01 01", "raw_forbidden_command", "GS ( M"),
    ("GS ( F", "1d 28 46 04 00 01 00 00 00", "raw_forbidden_command", "GS ( F"),
    ("GS : macro", "1d 3a 41 1d 3a", "raw_forbidden_command", "GS :"),
    ("GS ^", "1d 5e 01 00 01", "raw_forbidden_command", "GS ^"),
    ("GS D", "1d 44 30 43 30", "raw_forbidden_command", "GS D"),
    ("FS ( E", "1c 28 45 06 00 3c 02 30 43 4c 52", "raw_forbidden_command", "FS ( E"),
    ("FS ( L", "1c 28 4c 02 00 22 30", "raw_forbidden_command", "FS ( L"),
    ("FS ( e", "1c 28 65 02 00 33 08", "raw_forbidden_command", "FS ( e"),
    ("FS g", "1c 67 31 00 00 00 00 00 01 00 41", "raw_forbidden_command", "FS g"),
    (
        "forbidden after image",
        "1d 76 30 00 01 00 01 00 1d 1d 61 4f",
        "raw_forbidden_command",
        "GS a at offset 9",
    ),
    ("unknown ESC", "1b 7f", "raw_unknown_command", "1B 7F at offset 0"),
    ("unknown GS", "41 1d 99 00", "raw_unknown_command", "1D 99 at offset 1"),
    ("unknown GS ( X", "1d 28 5a 00 00", "raw_unknown_command", "1D 28 5A"),
    ("unknown FS ( X", "1c 28 5a 00 00", "raw_unknown_command", "1C 28 5A"),
    ("unknown GS 8 X", "1d 38 41 00", "raw_unknown_command", "1D 38 41"),
    ("GS v 1", "1d 76 31 00", "raw_unknown_command", "1D 76 31"),
    ("Star ESC GS", "1b 1d 61 01", "raw_unknown_command", "1B 1D"),
    ("ESC * bad mode", "1b 2a 05 01 00 00", "raw_bad_parameter", "ESC *"),
    ("GS V bad mode", "1d 56 07", "raw_bad_parameter", "GS V"),
    ("GS k bad system", "1d 6b 14 00", "raw_bad_parameter", "GS k"),
    ("GS v bad mode", "1d 76 30 07 00 00 00 00", "raw_bad_parameter", "GS v 0"),
    ("ESC & empty range", "1b 26 03 42 41", "raw_bad_parameter", "ESC &"),
    ("ESC & no height", "1b 26 00 41 41 00", "raw_bad_parameter", "ESC &"),
    ("ESC & too wide", "1b 26 03 41 41 0d" + " 00" * 39, "raw_bad_parameter", "x=13"),
    ("GS * empty", "1d 2a 00 01", "raw_bad_parameter", "GS *"),
    # Commands whose end a printer finds by itself: only the form every printer ends alike.
    (
        "tabs that stop ascending hide a command",
        "1b 44 08 01 1d 28 48 06 00 30 30 41 42 43 44",
        "raw_bad_parameter",
        "does not ascend",
    ),
    ("33 tab positions", "1b 44" + "".join(f" {n:02x}" for n in range(1, 34)) + " 00",
     "raw_bad_parameter", "more than 32"),
    (
        "GS k 04 data hiding GS ( H",
        "1d 6b 04 41 1d 28 48 06 00 30 30 41 42 43 44 00",
        "raw_bad_parameter",
        "data byte 1D at offset 4",
    ),
    ("GS k 04 + 520 bytes without NUL", "1d 6b 04" + " 41" * 520 + " 00",
     "raw_bad_parameter", "no NUL within 255"),
    (
        "GS ( K with 11 bytes",
        "1d 28 4b 0b 00 1d 28 48 06 00 30 30 41 42 43 44",
        "raw_bad_parameter",
        "GS ( K at offset 0: parameter length 11",
    ),
    ("GS ( K unknown function", "1d 28 4b 02 00 35 00", "raw_bad_parameter", "function 53"),
    ("FS C", "1c 43 01", "raw_forbidden_command", "FS C at offset 0"),
    ("FS ( C", "1c 28 43 02 00 30 02", "raw_forbidden_command", "FS ( C at offset 0"),
    # Text a double-byte printer reads differently from the walk.
    (
        "FS & + GS ( K hiding GS ( H",
        "1c 26 81 30 1d 28 4b 0b 00 1d 28 48 06 00 30 30 41 42 43 44 1c 2e",
        "raw_double_byte_text",
        "bytes 81 30 at offset 2 start a 4-byte GB18030 character",
    ),
    (
        "four-byte lead without FS &",
        "81 30 1d 28 4b 02 00 31 03",
        "raw_double_byte_text",
        "the byte 1D at offset 2",
    ),
    ("four-byte lead at the end", "41 81 30", "raw_double_byte_text", "the daemon's next"),
    ("JIS pair takes LF", "1c 26 41 0a 1c 2e", "raw_double_byte_text", "JIS character"),
    ("Kanji mode left on", "1c 26 d6 d0 0a", "raw_double_byte_text", "FS & at offset 0"),
    ("GS ( L without fn", "1d 28 4c 01 00 30", "raw_bad_parameter", "GS ( L"),
    ("lone ESC", "1b", "raw_truncated", "offset 0"),
    ("lone GS", "41 1d", "raw_truncated", "offset 1"),
    ("ESC ! no param", "1b 21", "raw_truncated", "1B 21"),
    ("raster short", "1d 76 30 00 02 00 02 00 ff ff ff", "raw_truncated", "1D 76 30"),
    ("raster huge", "1d 76 30 00 ff ff ff ff 00", "raw_truncated", "1D 76 30"),
    ("QR short", "1d 28 6b 07 00 31 50", "raw_truncated", "1D 28 6B"),
    ("GS ( L cut before fn", "1d 28 4c 06 00 30", "raw_truncated", "1D 28 4C"),
    ("barcode no NUL", "1d 6b 04 41 42", "raw_truncated", "1D 6B 04"),
    ("barcode form 2 short", "1d 6b 49 05 7b 42", "raw_truncated", "1D 6B 49"),
    ("ESC * short", "1b 2a 21 02 00 01 02 03", "raw_truncated", "1B 2A 21"),
    ("GS ( no selector", "1d 28", "raw_truncated", "1D 28"),
    ("tabs no NUL", "1b 44 01 02", "raw_truncated", "1B 44"),
    ("user chars short", "1b 26 03 41 42 02 01 02 03 04 05 06 01 07", "raw_truncated", "1B 26"),
    ("cut mode needs n", "1d 56 42", "raw_truncated", "1D 56 42"),
    (
        "DLE EOT in raster",
        "1d 76 30 00 03 00 01 00 10 04 01",
        "raw_realtime_sequence",
        "10 04 at offset 8",
    ),
    (
        "DLE DC4 in QR data",
        "1d 28 6b 06 00 31 50 30 10 14 02",
        "raw_realtime_sequence",
        "10 14 at offset 8",
    ),
    ("DLE ENQ in ESC * data", "1b 2a 00 02 00 10 05", "raw_realtime_sequence", "10 05"),
    ("DLE EOT across commands", "1b 21 10 04 01", "raw_realtime_sequence", "offset 2"),
    ("trailing DLE", "41 42 10", "raw_realtime_sequence", "offset 2"),
    ("image ending in DLE", "1d 76 30 00 01 00 01 00 10", "raw_realtime_sequence", "offset 8"),
    # After a prologue ending in 10 (ESC t 16), these would be DLE DC4 / DLE EOT / DLE ENQ.
    ("leading DC4", "14 01 00 05 41", "raw_realtime_sequence", "first byte 14"),
    ("leading EOT", "04 01", "raw_realtime_sequence", "first byte 04"),
    ("leading ENQ", "05 02", "raw_realtime_sequence", "first byte 05"),
]


@pytest.mark.parametrize(
    ("data", "code", "text"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected(data: str, code: str, text: str) -> None:
    with pytest.raises(RawRejected) as info:
        check_raw(H(data))
    assert info.value.code == code
    assert text in info.value.message
    assert isinstance(info.value, ClientError) and info.value.status == 422


# -- properties ---------------------------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_only_raw_rejected_escapes(data: bytes) -> None:
    try:
        out = check_raw(data)
    except RawRejected as e:
        assert e.code.startswith("raw_")
    else:
        assert out is data
        assert b"\x10\x04" not in data and not data.endswith(b"\x10")


@given(st.binary(max_size=200), st.integers(0, 255), st.integers(0, 255))
def test_only_raw_rejected_escapes_after_prefix(data: bytes, a: int, b: int) -> None:
    # Biased towards command prefixes, so the walk reaches the variable-length handlers.
    for prefix in (b"\x1b", b"\x1d", b"\x1c", b"\x1d(", b"\x1d8", b"\x1c(", b"\x1b("):
        with contextlib.suppress(RawRejected):
            check_raw(prefix + bytes([a, b]) + data)


_payload = st.binary(max_size=24).map(lambda b: b.replace(b"\x10", b"\x11"))
_printable = st.binary(max_size=24).map(lambda b: bytes(0x20 + c % 95 for c in b))
# Text the walk and every double-byte reading split alike: ASCII, line ends, and high bytes
# (Latin letters, or GBK lead bytes) only ever followed by a letter, which no reading joins to
# a control byte.
_text = st.lists(
    st.one_of(
        _printable,
        st.sampled_from([b"\n", b"\t", b"\r"]),
        st.tuples(st.integers(0x80, 0xFF), st.integers(0x41, 0x5A)).map(bytes),
    ),
    max_size=6,
).map(b"".join)
_byte = st.integers(0, 255).filter(lambda v: v != 0x10)


def _u16(n: int) -> bytes:
    return bytes([n & 0xFF, n >> 8])


@st.composite
def allowed_command(draw: st.DrawFn) -> bytes:
    """One allowed command with random parameters and data (no 0x10 anywhere)."""
    kind = draw(
        st.sampled_from(
            [
                "text",
                "fixed",
                "esc*",
                "raster",
                "qr",
                "gfx",
                "gfx8",
                "barcode1",
                "barcode2",
                "cut",
                "tabs",
                "amp",
                "gs*",
            ]
        )
    )
    if kind == "text":
        return draw(_text)
    if kind == "fixed":
        head, n = draw(
            st.sampled_from(
                [
                    (b"\x1b@", 0),
                    (b"\x1b!", 1),
                    (b"\x1bp", 3),
                    (b"\x1bW", 8),
                    (b"\x1c\x70", 2),
                    (b"\x1dL", 2),
                ]
            )
        )
        return head + bytes(draw(st.lists(_byte, min_size=n, max_size=n)))
    if kind == "esc*":
        m = draw(st.sampled_from([0, 1, 32, 33]))
        cols = draw(st.integers(0, 6))
        data = draw(
            st.binary(min_size=cols * (3 if m >= 32 else 1), max_size=cols * (3 if m >= 32 else 1))
        )
        return b"\x1b*" + bytes([m]) + _u16(cols) + data.replace(b"\x10", b"\x11")
    if kind == "raster":
        x, y = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        data = draw(st.binary(min_size=x * y, max_size=x * y)).replace(b"\x10", b"\x11")
        return b"\x1dv0\x00" + _u16(x) + _u16(y) + data
    if kind == "qr":
        data = draw(_payload)
        return b"\x1d(k" + _u16(len(data) + 3) + b"\x31\x50\x30" + data
    if kind in ("gfx", "gfx8"):
        fn = draw(st.sampled_from([50, 112, 113, 69, 83, 85]))
        body = b"\x30" + bytes([fn]) + draw(_payload)
        width = 2 if kind == "gfx" else 4
        head = b"\x1d(L" if kind == "gfx" else b"\x1d8L"
        return head + len(body).to_bytes(width, "little") + body
    if kind == "barcode1":
        return b"\x1dk\x04" + draw(_printable) + b"\x00"
    if kind == "barcode2":
        data = draw(_payload)
        return b"\x1dkI" + bytes([len(data)]) + data
    if kind == "cut":
        return draw(st.sampled_from([b"\x1dV\x00", b"\x1dV\x31", b"\x1dVB\x03", b"\x1dVa\x00"]))
    if kind == "tabs":
        tabs = draw(st.sets(st.integers(1, 255).filter(lambda v: v != 0x10), max_size=32))
        return b"\x1bD" + bytes(sorted(tabs)) + b"\x00"
    if kind == "amp":
        y, count = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        out = b"\x1b&" + bytes([y, 0x41, 0x41 + count - 1])
        for _ in range(count):
            x = draw(st.integers(0, 4))
            out += bytes([x]) + draw(st.binary(min_size=x * y, max_size=x * y)).replace(
                b"\x10", b"\x11"
            )
        return out
    x, y = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    data = draw(st.binary(min_size=x * y * 8, max_size=x * y * 8)).replace(b"\x10", b"\x11")
    return b"\x1d*" + bytes([x, y]) + data


FORBIDDEN_COMMANDS = [
    b"\x1d(E\x03\x00\x01IN",
    b"\x1da\x00",
    b"\x1d(H\x06\x0000ABCD",
    b"\x1d(L\x02\x0000",
    b"\x1c\x71\x01",
    b"\x1b=\x01",
    b"\x1dI\x01",
]


@given(st.lists(allowed_command(), max_size=8))
def test_allowed_command_streams_pass(commands: list[bytes]) -> None:
    data = b"".join(commands)
    # A length byte 0x10 next to a data byte 0x04 is a real-time command to the printer too.
    assume(not any(s in data for s in (b"\x10\x04", b"\x10\x05", b"\x10\x14")))
    assert check_raw(data) is data


@given(st.lists(allowed_command(), max_size=8), st.data())
def test_forbidden_command_found_after_any_allowed_data(
    commands: list[bytes], d: st.DataObject
) -> None:
    # The walk stays in step through every variable-length command, so a forbidden command
    # at any command boundary is found and reported at its offset.
    at = d.draw(st.integers(0, len(commands)))
    bad = d.draw(st.sampled_from(FORBIDDEN_COMMANDS))
    before = b"".join(commands[:at])
    data = before + bad + b"".join(commands[at:])
    with pytest.raises(RawRejected) as info:
        check_raw(data)
    assert info.value.code == "raw_forbidden_command"
    assert f"at offset {len(before)} " in info.value.message

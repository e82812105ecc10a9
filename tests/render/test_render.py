"""receiptd.render and receiptd.profiles: real python-escpos output, byte fixtures, markers,
columns, and the "text is text" property."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from receiptd.document import Content, parse_content
from receiptd.errors import ConfigError, InvalidDocument, UnprintableText
from receiptd.render import (
    MARKER_DELIMITER,
    QrItem,
    copy_marker,
    defang,
    interrupted_marker,
    layout,
    marker_paper_mm,
    marker_section,
    paper_length_mm,
    prologue,
    raster,
    render,
    render_body,
    split_marker,
    text_width,
    to_bitmap,
    with_marker,
)
from receiptd.render.escpos import Dummy
from receiptd.render.profiles import Profile, get_profile, list_profiles
from receiptd.render.text import charset_of as _charset_of
from receiptd.render.text import substitute_unprintable

T88 = get_profile("TM-T88V")
P20 = get_profile("TM-P20")  # 58 mm, 32 columns
T88_CN = get_profile("TM-T88V", {"double_byte": "gb18030"})
P20_CN = get_profile("TM-P20", {"double_byte": "gb18030"})


def H(text: str) -> bytes:
    return bytes.fromhex(text)


def doc(*blocks: dict[str, Any]) -> Content:
    return parse_content({"document": {"blocks": list(blocks)}})


def png_b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# -- profiles ---------------------------------------------------------------------------------


def test_builtin_profiles() -> None:
    assert (T88.columns, T88.width_dots, T88.native_qr, T88.cutter, T88.paper_mm) == (
        42, 512, True, True, 80.0)
    assert (P20.columns, P20.width_dots, P20.paper_mm) == (32, 384, 58.0)
    t20 = get_profile("TM-T20II")
    assert (t20.paper_mm, t20.width_dots, t20.columns) == (80.0, 576, 48)
    names = list_profiles()
    assert {"TM-T88V", "TM-T20II", "TM-P20", "POS-5890", "TM-P80"} <= set(names)
    assert "default" not in names


def test_any_escpos_profile_with_a_width() -> None:
    p = get_profile("TM-P80")
    assert (p.columns, p.width_dots, p.native_qr, p.cutter) == (42, 576, True, True)
    assert get_profile("ZJ-5870").cutter is False


@pytest.mark.parametrize(
    ("name", "overrides", "fragment"),
    [
        ("TM-T99", None, "unknown printer profile 'TM-T99'"),
        ("default", None, "states no paper width"),
        ("TM-T88V", {"colums": 40}, "profile.colums: unknown profile setting"),
        ("TM-T88V", {"columns": "40"}, "profile.columns: must be an integer"),
        ("TM-T88V", {"columns": 200}, "profile.columns"),
        ("TM-T88V", {"cutter": "yes"}, "profile.cutter: must be true or false"),
        ("TM-T88V", {"double_byte": "utf8"}, "profile.double_byte"),
        ("TM-T88V", {"encoding": "CP999"}, "profile.encoding"),
        ("TM-T88V", {"escpos_profile": "default"}, "profile.escpos_profile"),
        ("TM-T88V", {"name": "x"}, "profile.name: unknown profile setting"),
    ],
)
def test_profile_errors_name_the_key(
    name: str, overrides: dict[str, Any] | None, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("(", r"\(")):
        get_profile(name, overrides)


def test_profile_overrides_and_key_path() -> None:
    p = get_profile("TM-T88V", {"columns": 48, "encoding": "cp858", "line_mm": 3.75})
    assert (p.columns, p.columns_b, p.encoding, p.line_mm) == (48, 64, "CP858", 3.75)
    with pytest.raises(ConfigError, match=r"^printers\.front\.profile\.width: "):
        get_profile("TM-T88V", {"width": 1}, where="printers.front.profile")


def test_profiles_read_capabilities_without_importing_escpos() -> None:
    # A profile's facts come from python-escpos's database file; python-escpos itself (4.6 MB
    # with PyYAML) is loaded by the first rendering, not by the daemon's start.
    code = (
        "import sys\n"
        "from receiptd.render.profiles import get_profile, list_profiles\n"
        "p = get_profile('TM-T88V')\n"
        "assert p.code_pages['CP437'] == 0 and 'TM-T20II' in list_profiles()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('escpos', 'yaml')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
    from receiptd.render.capabilities import profiles
    from receiptd.render.escpos import CAPABILITIES

    assert profiles().keys() == CAPABILITIES["profiles"].keys()
    for name, facts in profiles().items():
        assert facts == {k: v for k, v in CAPABILITIES["profiles"][name].items() if k in facts}


def test_escpos_import_has_no_side_effects(tmp_path: Path) -> None:
    code = (
        "import logging, os, tempfile\n"
        "before = set(os.listdir(tempfile.gettempdir()))\n"
        "import receiptd.render.escpos\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
        "assert set(os.listdir(tempfile.gettempdir())) == before\n"
        "print(os.environ['ESCPOS_CAPABILITIES_PICKLE_DIR'])\n"
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(tmp)}
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
        check=True,
    ).stdout.strip()
    assert out == str(tmp_path / "cache" / "receiptd" / "escpos")
    assert any(p.name.endswith(".capabilities.pickle") for p in Path(out).iterdir())
    assert (Path(out).stat().st_mode & 0o077) == 0


# -- byte fixtures --------------------------------------------------------------------------


def test_prologue() -> None:
    assert prologue(T88) == H("1b40 1b7400")
    assert prologue(get_profile("TM-T88V", {"encoding": "CP858"})) == H("1b40 1b7413")
    assert prologue(T88_CN) == H("1b40 1b7400 1c2e")
    # ESC t 16 ends in 10 (DLE): ESC 2, a no-op after ESC @, keeps a body starting with 14
    # or 04 from completing DLE DC4 / DLE EOT with it.
    assert prologue(get_profile("TM-T88V", {"encoding": "CP1252"})) == H("1b40 1b7410 1b32")


@pytest.mark.parametrize(
    "name", ["TM-T88V", "TM-T88IV", "TM-T20II", "TM-T20II-42col", "TM-P20", "POS-5890"]
)
def test_no_prologue_ends_in_dle(name: str) -> None:
    # Every code page of every built-in profile, with and without a double-byte set: what the
    # body starts with can never complete a real-time command begun by the prologue.
    base = get_profile(name)
    for encoding in base.code_pages:
        for double_byte in (None, "gb18030", "shift_jis"):
            p = get_profile(name, {"encoding": encoding, "double_byte": double_byte})
            head = prologue(p)
            assert head[-1] != 0x10, (name, encoding, double_byte, head.hex(" "))
            for first in (0x04, 0x05, 0x14):
                joined = head + bytes([first, 0x01])
                assert all(s not in joined for s in (b"\x10\x04", b"\x10\x05", b"\x10\x14"))


def test_fixture_text_row_rule_cut_drawer() -> None:
    content = doc(
        {"type": "text", "text": "Hello", "align": "center", "bold": True},
        {"type": "row", "left": "Tea", "right": "2.50"},
        {"type": "rule"},
        {"type": "feed", "lines": 2},
        {"type": "cut"},
        {"type": "drawer"},
    )
    expected = (
        H("1b40 1b7400")
        + H("1b4501 1b6101") + b"Hello\n"
        + H("1b4500 1b6100") + b"Tea" + b" " * 35 + b"2.50\n"
        + b"-" * 42 + b"\n"
        + H("1b6402")
        + H("1b6406 1d5600")
        + H("1b7000 3232")
    )
    assert render(content, T88) == expected


def test_fixture_styles() -> None:
    content = doc(
        {"type": "text", "text": "BIG", "size": [2, 2], "underline": 1, "font": "b"},
        {"type": "text", "text": "small"},
        {"type": "cut", "partial": True},
    )
    assert render_body(content, T88) == (
        H("1d2111 1b2d01 1b4d01") + b"BIG\n"
        + H("1d2100 1b2d00 1b4d00") + b"small\n"
        + H("1b6406 1d5601")
    )


def test_fixture_code_page_switch_and_return() -> None:
    body = render_body(doc({"type": "text", "text": "Café 5€"}), T88)
    # é and € together: WPC1252 (ESC t 16), then back to the profile's CP437 at the end.
    assert body == H("1b7410") + b"Caf\xe9 5\x80\n" + H("1b7400")


def test_fixture_ean13_hardware_barcode() -> None:
    body = render_body(doc({"type": "barcode", "data": "4006381333931", "symbology": "EAN13"}),
                       T88)
    assert body == (
        H("1b6101") + H("1d6850 1d7702 1d6600 1d4802") + H("1d6b43 0c") + b"400638133393"
        + H("1b6100")
    )


def test_fixture_code128_escapes_braces() -> None:
    body = render_body(doc({"type": "barcode", "data": "A{1", "hri": "none"}), T88)
    assert H("1d4800 1d6b49 06") + b"{BA{{1" in body


def test_fixture_native_qr() -> None:
    body = render_body(doc({"type": "qr", "data": "hi", "size": 4, "ec": "Q"}), T88)
    assert body == (
        H("1b6101")
        + H("1d286b 0400 3141 3200") + H("1d286b 0300 3143 04") + H("1d286b 0300 3145 32")
        + H("1d286b 0500 3150 30") + b"hi" + H("1d286b 0300 3151 30")
        + H("1b6100")
    )


def test_raster_qr_when_not_native() -> None:
    body = render_body(doc({"type": "qr", "data": "hi", "size": 4}), get_profile("POS-5890"))
    assert body.startswith(H("1d7630 00"))
    assert b"(k" not in body


def test_image_matches_python_escpos_bitimageraster() -> None:
    img = Image.linear_gradient("L").resize((100, 40))
    ours = raster(to_bitmap(img, 512), "left", 512)
    dummy = Dummy(profile="TM-T88V")
    dummy.image(img, impl="bitImageRaster")
    assert ours == defang(dummy.output)


def test_wide_image_is_scaled_to_the_paper_and_centred() -> None:
    wide = Image.new("L", (1024, 100), 0)
    items = layout(doc({"type": "image", "png": png_b64(wide)}), T88)
    assert items is not None
    assert items[0].bitmap.size == (512, 50)  # type: ignore[union-attr]
    body = render_body(doc({"type": "image", "png": png_b64(Image.new("L", (256, 8), 0))}), T88)
    # Centred by padding: 128 blank dots then 256 black ones, 48 bytes a row.
    assert body[:8] == H("1d763000 3000 0800")
    assert body[8:8 + 48] == b"\x00" * 16 + b"\xff" * 32


def test_raster_cannot_carry_realtime_commands() -> None:
    row = bytes([0x10, 0x14, 0x02, 0x01, 0x08, 0x10, 0x04, 0x01, 0x10, 0x05, 0x02, 0x10, 0x10])
    bitmap = Image.frombytes("1", (len(row) * 8, 1), row)
    out = raster(bitmap, "left", 512)
    data = out[8:]
    for seq in (b"\x10\x04", b"\x10\x05", b"\x10\x14"):
        assert seq not in data
    assert len(data) == len(row)


def test_nothing_is_printed_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    content = doc(
        {"type": "barcode", "data": "12345670", "symbology": "EAN8"},
        {"type": "qr", "data": "x"},
        {"type": "image", "png": png_b64(Image.new("L", (600, 10), 0))},
        {"type": "cut"},
    )
    for name in ("TM-T88V", "POS-5890", "TM-P20"):
        render(content, get_profile(name))
    assert capsys.readouterr() == ("", "")


def test_software_barcode_on_a_printer_without_barcode_commands() -> None:
    body = render_body(doc({"type": "barcode", "data": "12345670", "symbology": "EAN8"}),
                       get_profile("POS-5890"))
    assert b"\x1dk" not in body and H("1d7630") in body
    assert b"12345670\n" in body  # the HRI, printed as text below


# -- barcode checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"data": "40063813339A", "symbology": "EAN13"}, "needs 12 digits"),
        ({"data": "4006381333932", "symbology": "EAN13"}, "wrong check digit"),
        ({"data": "123", "symbology": "EAN8"}, "needs 7 digits"),
        ({"data": "03600029145X", "symbology": "UPC-A"}, "needs 11 digits"),
        ({"data": "abc", "symbology": "CODE39"}, "CODE39 carries only"),
        ({"data": "123", "symbology": "ITF"}, "even number"),
        ({"data": "1234", "symbology": "CODABAR"}, "start/stop"),
        ({"data": "X" * 40, "width": 3}, "dots wide"),
    ],
)
def test_unprintable_barcodes_are_invalid(block: dict[str, Any], fragment: str) -> None:
    content = doc({"type": "barcode", **block})
    with pytest.raises(InvalidDocument, match=fragment):
        render(content, T88)


def test_qr_too_long_is_invalid_and_large_qr_shrinks_to_fit() -> None:
    with pytest.raises(InvalidDocument, match="too long"):
        render(doc({"type": "qr", "data": "x" * 4000, "ec": "H"}), T88)
    items = layout(doc({"type": "qr", "data": "y" * 1000, "size": 16}), P20)
    assert items is not None
    qr = items[0]
    assert isinstance(qr, QrItem)
    assert (qr.modules + 4) * qr.size <= P20.width_dots
    assert len(qr.matrix) == qr.modules


# -- markers ----------------------------------------------------------------------------------


SAMPLE = doc(
    {"type": "text", "text": "CAFÉ ROMA", "align": "center", "size": "double", "bold": True},
    {"type": "row", "left": "Espresso", "right": "2.90"},
    {"type": "row", "left": "Crème brûlée €", "right": "6.50"},
    {"type": "barcode", "data": "ORDER-1842"},
    {"type": "qr", "data": "https://example.com/r/1842"},
    {"type": "cut"},
)


def test_marker_texts() -> None:
    at = datetime(2026, 11, 20, 14, 3)
    assert copy_marker(2, at) == "COPY 2 - original printed 2026-11-20 14:03"
    assert copy_marker(3, None) == "COPY 3"
    text = interrupted_marker(2, at)
    assert text.startswith("*** REPRINT: interrupted ***\n")
    assert "attempt 2" in text and "2026-11-20 14:03" in text
    aware = datetime(2026, 11, 20, 14, 3, tzinfo=timezone(timedelta(hours=5)))
    assert copy_marker(2, aware).isascii()


@pytest.mark.parametrize("profile", [T88, P20, T88_CN], ids=lambda p: p.name)
@pytest.mark.parametrize(
    "content",
    [SAMPLE, Content(text="plain\ttext\n"), Content(raw=base64.b64encode(b"\x1b@hi\n").decode())],
    ids=["document", "text", "raw"],
)
@pytest.mark.parametrize(
    "marker",
    [copy_marker(2, datetime(2026, 11, 20, 14, 3)), interrupted_marker(3, None)],
    ids=["copy", "interrupted"],
)
def test_copy_is_the_original_plus_the_marker_section(
    content: Content, profile: Profile, marker: str
) -> None:
    original = render(content, profile)
    copy = render(content, profile, marker=marker)
    section = marker_section(marker, profile)
    assert original == prologue(profile) + render_body(content, profile)
    assert copy == prologue(profile) + section + render_body(content, profile)
    assert section.startswith(MARKER_DELIMITER) and section.endswith(MARKER_DELIMITER)
    head = prologue(profile)
    assert split_marker(copy, profile) == (head, section, original[len(head):])
    assert split_marker(original, profile) == (head, b"", original[len(head):])
    word = b"COPY" if marker.startswith("COPY") else b"REPRINT"
    assert word in section and word not in original


def test_marker_section_fixture_and_neutralisation() -> None:
    assert marker_section("COPY 2", P20) == (
        MARKER_DELIMITER
        + H("1b4501 1b6101") + b"=" * 32 + b"\n" + b"COPY 2\n" + b"=" * 32 + b"\n"
        + H("1b4500 1b6100")
        + MARKER_DELIMITER
    )
    assert b"\x1b!" not in marker_section("x\x1b!\x00y", T88)[3:-3]


def test_split_marker_rejects_foreign_bytes() -> None:
    with pytest.raises(ValueError):
        split_marker(b"hello", T88)
    with pytest.raises(ValueError):
        split_marker(prologue(T88) + MARKER_DELIMITER + b"open", T88)


def test_body_never_emits_the_marker_delimiter() -> None:
    body = render_body(SAMPLE, T88)
    assert not body.startswith(MARKER_DELIMITER)
    assert MARKER_DELIMITER not in body


def test_reprint_is_byte_identical_after_a_journal_round_trip() -> None:
    stored = SAMPLE.model_dump_json()
    again = Content.model_validate_json(stored)
    assert render_body(again, T88) == render_body(SAMPLE, T88)
    render(Content(text="warm up a different code page: ñ Ж"), T88)
    assert render_body(again, T88) == render_body(SAMPLE, T88)


# -- columns ----------------------------------------------------------------------------------


ROWS = [
    ("Espresso", "2.90"),
    ("宫保鸡丁 Kung Pao Chicken", "38.00"),
    ("珍珠奶茶（大杯，少冰，半糖）加椰果", "¥16.50"),
    ("Beef noodle soup 牛肉面 with extra chilli oil and coriander", "42.00"),
    ("", "0.00"),
    ("Only a left text", ""),
    ("x", "a very long right text that takes most of the line"),
]


@pytest.mark.parametrize("profile", [T88, P20, T88_CN, P20_CN], ids=lambda p: p.name
                         + ("-cn" if p.double_byte else ""))
@pytest.mark.parametrize(("left", "right"), ROWS)
def test_rows_fill_the_line_exactly(profile: Profile, left: str, right: str) -> None:
    items = layout(doc({"type": "row", "left": left, "right": right}), profile)
    assert items is not None
    lines = [i.text for i in items]  # type: ignore[union-attr]
    for line in lines:
        assert text_width(line) <= profile.columns
    if text_width(right) <= profile.columns - 8:
        assert text_width(lines[0]) == profile.columns
        assert lines[0].endswith(_charset_of(profile).printable(right))
    # The printer's own metric agrees: one column per single byte, two per double-byte char.
    decoded = decode_body(render_body(doc({"type": "row", "left": left, "right": right}),
                                      profile), profile)
    assert [text for text, _ in decoded] == expected_lines(items)
    assert all(width == text_width(text) for text, width in decoded if width >= 0)


def test_characters_without_any_font_are_refused() -> None:
    # Plane 15 private use: no printer code page and no font has it.
    with pytest.raises(UnprintableText, match="U\\+F0000"):
        layout(doc({"type": "row", "left": "\U000f0000\U000f0001", "right": "9.00"}), T88)


def test_text_wraps_at_words_and_keeps_fitting_lines() -> None:
    content = doc({"type": "text", "text": "one two three four five six seven eight nine ten"},
                  {"type": "text", "text": "a    b   (kept)\n\nend"},
                  {"type": "text", "text": "double width", "size": [2, 1]})
    items = layout(content, P20)
    assert items is not None
    assert [i.text for i in items] == [  # type: ignore[union-attr]
        "one two three four five six", "seven eight nine ten",
        "a    b   (kept)", "", "end", "double width"]
    long_word = layout(doc({"type": "text", "text": "x" * 40}), P20)
    assert [i.text for i in long_word or []] == ["x" * 32, "x" * 8]  # type: ignore[union-attr]


# -- text is text -------------------------------------------------------------------------


def _inverse_maps(profile: Profile) -> dict[int, dict[int, str]]:
    charset = _charset_of(profile)
    return {
        profile.code_pages[name]: {byte: char for char, byte in charset.maps[name].items()}
        for name in charset.maps
    }


RASTER = "<raster>"


def expected_lines(items: list[Any]) -> list[str]:
    return [RASTER if i.raster else i.text for i in items]


STYLE_COMMANDS = {b"\x1bE": {0, 1}, b"\x1b-": {0, 1, 2}, b"\x1bM": {0, 1},
                  b"\x1ba": {0, 1, 2}, b"\x1d!": set(range(256))}


def decode_body(body: bytes, profile: Profile) -> list[tuple[str, int]]:
    """Parse a text-only body: style commands, ESC t, Kanji runs and text bytes. Anything
    else fails. Returns each line's text and its width on the printer's own metric."""
    pages = _inverse_maps(profile)
    page = profile.code_pages[profile.encoding]
    lines: list[tuple[str, int]] = [("", 0)]
    i = 0
    while i < len(body):
        byte = body[i]
        two = body[i:i + 2]
        if two == b"\x1bt":
            assert body[i + 2] in pages, body[i:i + 3]
            page = body[i + 2]
            i += 3
        elif two in STYLE_COMMANDS:
            assert body[i + 2] in STYLE_COMMANDS[two], body[i:i + 3]
            i += 3
        elif two == b"\x1c&":
            end = body.index(b"\x1c.", i + 2)
            run = body[i + 2:end]
            assert profile.double_byte_codec is not None
            assert all(b >= 0x20 and b != 0x7F for b in run), run
            text = run.decode(profile.double_byte_codec)
            # ASCII stays in Kanji mode (one column); every other character is two bytes and
            # two columns.
            assert len(run) == sum(1 if c.isascii() else 2 for c in text)
            lines[-1] = (lines[-1][0] + text, lines[-1][1] + len(run))
            i = end + 2
        elif body[i:i + 4] == b"\x1dv0\x00":  # a line the printer cannot print: an image
            assert lines[-1] == ("", 0), "an image line starts a line"
            x, y = int.from_bytes(body[i + 4:i + 6], "little"), int.from_bytes(body[i + 6:i + 8],
                                                                               "little")
            assert x == profile.width_dots // 8, "the image is as wide as the paper"
            lines[-1] = (RASTER, -1)
            lines.append(("", 0))
            i += 8 + x * y
        elif byte == 0x0A:
            lines.append(("", 0))
            i += 1
        else:
            assert 0x20 <= byte != 0x7F, f"control byte {byte:#04x} at {i} in {body!r}"
            char = chr(byte) if byte < 0x80 else pages[page][byte]
            lines[-1] = (lines[-1][0] + char, lines[-1][1] + 1)
            i += 1
    assert lines[-1] == ("", 0)
    return lines[:-1]


DANGEROUS = "\x1b\x1d\x1c\x10\x04\x05\x14\x00\x07\x08\x0c\x0d\x7f\x85\x9b\x90\u2028\t\n@!tEa-"
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(DANGEROUS),
        st.characters(codec="utf-8"),
        st.sampled_from("éü€ñЖ¥宫保鸡丁ｶ\u0301\u200b\u202e😀"),
    ),
    max_size=120,
)
styles = st.fixed_dictionaries({
    "align": st.sampled_from(["left", "center", "right"]),
    "bold": st.booleans(),
    "underline": st.sampled_from([0, 1, 2]),
    "size": st.tuples(st.integers(1, 8), st.integers(1, 8)),
    "font": st.sampled_from(["a", "b"]),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, right=texts, style=styles,
       profile=st.sampled_from([T88, P20, T88_CN, get_profile("POS-5890")]))
def test_user_text_never_becomes_a_command(
    text: str, right: str, style: dict[str, Any], profile: Profile
) -> None:
    content = doc({"type": "text", "text": text, **style},
                  {"type": "row", "left": text, "right": right, "bold": style["bold"]},
                  {"type": "rule", "char": (text.strip() or "-")[0]}
                  if (text.strip() or "-")[0].isprintable() else {"type": "rule"})
    with substitute_unprintable():  # any text: what nothing can print shows as "?"
        items = layout(content, profile)
        assert items is not None
        body = render_body(content, profile)
    decoded = decode_body(body, profile)
    # The bytes decode back to exactly the laid-out text, with only style, code page and
    # Kanji-mode commands between: nothing from the text became a command.
    assert [t for t, _ in decoded] == expected_lines(items)
    for line, width in decoded:
        assert line.isprintable() or line == ""
        assert width == text_width(line) or line == RASTER
    for seq in (b"\x10\x04", b"\x10\x05", b"\x10\x14"):
        assert seq not in body


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80))
def test_printable_ascii_survives_unchanged(word: str) -> None:
    items = layout(doc({"type": "text", "text": word or "x"}), T88)
    assert "".join(i.text for i in items or []) == (word or "x")  # type: ignore[union-attr]


# -- paper and speed --------------------------------------------------------------------------


def test_paper_length_estimate() -> None:
    line = T88.line_mm
    base = paper_length_mm(doc({"type": "text", "text": "a"}), T88)
    assert base == pytest.approx(line)
    assert paper_length_mm(doc({"type": "text", "text": "a"}, {"type": "feed", "lines": 10}),
                           T88) == pytest.approx(11 * line)
    assert paper_length_mm(doc({"type": "text", "text": "a", "size": [1, 2]}),
                           T88) == pytest.approx(2 * line)
    assert paper_length_mm(doc({"type": "cut"}), T88) == pytest.approx(6 * line)
    img = doc({"type": "image", "png": png_b64(Image.new("L", (100, 180), 0))})
    assert paper_length_mm(img, T88) == pytest.approx(180 / T88.dots_per_mm)
    assert paper_length_mm(SAMPLE, T88, marker="COPY 2") > paper_length_mm(SAMPLE, T88)
    assert paper_length_mm(Content(raw=base64.b64encode(b"a\nb\nc\n").decode()), T88) \
        == pytest.approx(3 * line)


def forty_line_receipt() -> Content:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "CAFE ROMA", "align": "center", "size": [2, 2], "bold": True},
        {"type": "text", "text": "12 Market Street", "align": "center"},
        {"type": "rule"},
    ]
    blocks += [{"type": "row", "left": f"Item {i} latte macchiato", "right": f"{i}.50"}
               for i in range(32)]
    blocks += [
        {"type": "rule", "char": "="},
        {"type": "row", "left": "TOTAL", "right": "99.00", "bold": True},
        {"type": "text", "text": "Merci & à bientôt!", "align": "center"},
        {"type": "barcode", "data": "4006381333931", "symbology": "EAN13"},
        {"type": "qr", "data": "https://example.com/r/8f3a"},
        {"type": "cut"},
    ]
    return doc(*blocks)


#: Function calls (Python and C) one rendering of the forty-line receipt makes, ten times over:
#: under 1,500 today. Counted, not timed, so a busy machine cannot fail it; how fast a submit
#: renders is measured in bench/ (profile_submit.py, the latency runs).
RENDER_CALLS_BUDGET = 15_000


def calls_made(work: Callable[[], object]) -> int:
    """How many functions ``work()`` calls, all the way down, in this thread."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    before = sys.getprofile()
    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(before)
    return calls


def test_render_does_a_bounded_amount_of_work() -> None:
    """An order-of-magnitude regression (a layout made twice per line, a profile or font
    loaded on every call, a walk gone quadratic) shows as ten times the calls."""
    content = forty_line_receipt()
    render(content, T88)  # first use: lazy imports, caches
    calls = calls_made(lambda: render(content, T88))
    assert calls <= RENDER_CALLS_BUDGET, calls


# -- marking a journaled rendering without the document ---------------------------------------


AT = datetime(2026, 11, 20, 14, 3)
# Raw ESC/POS may itself start with ESC ! 0 (the marker delimiter) and use it again later.
RAW_PRINT_MODE = Content(raw=base64.b64encode(
    b"\x1b!\x00TOTAL\n\x1b!\x30BIG\n\x1b!\x00small\n\x1dV\x00").decode())
MARKED_CONTENTS = {
    "sample": SAMPLE,
    "forty-lines": forty_line_receipt(),
    "cjk-rows": doc(*({"type": "row", "left": left, "right": right} for left, right in ROWS)),
    "text": Content(text="plain\ttext\nCafé ¥ 宫保鸡丁\n"),
    "raw": Content(raw=base64.b64encode(b"\x1b@hi\n").decode()),
    "raw-print-mode": RAW_PRINT_MODE,
}
MARKERS = [
    None,
    copy_marker(2, AT),
    copy_marker(3, None),
    interrupted_marker(2, AT),
    interrupted_marker(4, None),
    copy_marker(2, AT) + "\n" + interrupted_marker(3, AT),  # a copy whose print was cut short
    "COPIE 2 - imprimée à 14:03 ¥ 宫",  # not ASCII: code page switches inside the section
]


@pytest.mark.parametrize("profile", [T88, P20, T88_CN], ids=lambda p: p.name
                         + ("-cn" if p.double_byte else ""))
@pytest.mark.parametrize("content", list(MARKED_CONTENTS.values()), ids=list(MARKED_CONTENTS))
def test_with_marker_equals_rendering_with_the_marker(content: Content, profile: Profile) -> None:
    renderings = {marker: render(content, profile, marker=marker) for marker in MARKERS}
    for before, rendered in renderings.items():  # unmarked, or marked already
        for after, expected in renderings.items():
            assert with_marker(rendered, after, profile) == expected, (before, after)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.one_of(st.none(), texts), after=st.one_of(st.none(), texts),
       profile=st.sampled_from([T88, P20, T88_CN]),
       content=st.sampled_from([SAMPLE, RAW_PRINT_MODE]))
def test_with_marker_takes_any_marker_text(
    before: str | None, after: str | None, profile: Profile, content: Content
) -> None:
    rendered = render(content, profile, marker=before)
    assert with_marker(rendered, after, profile) == render(content, profile, marker=after)


def test_with_marker_refuses_a_rendering_for_another_profile() -> None:
    with pytest.raises(ValueError, match="prologue"):
        with_marker(render(SAMPLE, T88), copy_marker(2, AT), T88_CN)
    with pytest.raises(ValueError, match="prologue"):
        with_marker(b"hello", None, T88)


@pytest.mark.parametrize("profile", [T88, P20, T88_CN], ids=lambda p: p.name
                         + ("-cn" if p.double_byte else ""))
@pytest.mark.parametrize("content", list(MARKED_CONTENTS.values()), ids=list(MARKED_CONTENTS))
def test_marked_paper_is_the_unmarked_estimate_plus_the_marker(
    content: Content, profile: Profile
) -> None:
    unmarked = paper_length_mm(content, profile)
    assert marker_paper_mm(None, profile) == 0.0
    for marker in MARKERS:
        assert paper_length_mm(content, profile, marker=marker) == (
            unmarked + marker_paper_mm(marker, profile)), marker
        if marker is not None:
            assert marker_paper_mm(marker, profile) >= 3 * profile.line_mm  # rules and text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(marker=texts, profile=st.sampled_from([T88, P20, T88_CN]))
def test_marker_paper_needs_no_document(marker: str, profile: Profile) -> None:
    for content in (SAMPLE, RAW_PRINT_MODE):
        assert paper_length_mm(content, profile, marker=marker) == (
            paper_length_mm(content, profile) + marker_paper_mm(marker, profile))

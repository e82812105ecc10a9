"""Star output, byte for byte: every command the Star writers emit, with the bytes expected
and the place in Star's specification they follow.

Specifications (Star Micronics Co., Ltd.):

* LM9 = "STAR Line Mode Command Specifications", Line Thermal Printer, Rev 0.09;
* LM0 = "STAR Line Mode Command Specifications", Line Thermal/Dot Printer, Rev. 0.00 (the
  edition with per-station notes; cited where its page says more than LM9's).

The ``ESC GS t`` numbers of the code pages come from the Star entries (TSP600) of the
python-escpos capabilities database, which lists Star's own numbering.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from receiptd.document import Content
from receiptd.errors import ConfigError
from receiptd.render import (
    copy_marker,
    paper_length_mm,
    render,
    render_body,
    render_measured,
    split_marker,
    with_marker,
)
from receiptd.render.items import (
    BarcodeItem,
    CutItem,
    DrawerItem,
    FeedItem,
    ImageItem,
    QrItem,
    Style,
    TextLine,
)
from receiptd.render.paper import command_boundaries, raw_paper_mm
from receiptd.render.profiles import Profile, get_profile, with_dialect
from receiptd.render.sections import prologue
from receiptd.render.star import StarRasterWriter, StarWriter

FIXTURES = Path(__file__).parent / "star_fixtures"
ESC, GS, RS = b"\x1b", b"\x1d", b"\x1e"
TSP650 = get_profile("TSP600", {"columns": 48, "columns_b": 64, "dialect": "star"})
TSP143 = with_dialect(TSP650, "star_raster")
NO_CUTTER = get_profile("TSP600", {"columns": 48, "cutter": False, "dialect": "star"})
NO_QR = get_profile("TSP600", {"columns": 48, "native_qr": False, "dialect": "star"})


def line_bytes(*items: object, profile: Profile = TSP650) -> bytes:
    writer = StarWriter(profile)
    for item in items:
        writer.item(item)  # type: ignore[arg-type]
    return writer.finish()


def raster_bytes(*items: object, profile: Profile = TSP143) -> bytes:
    writer = StarRasterWriter(profile)
    for item in items:
        writer.item(item)  # type: ignore[arg-type]
    return writer.finish()


def black(width: int, height: int) -> Image.Image:
    return Image.new("1", (width, height), 1)


# -- the prologue --------------------------------------------------------------------------


def test_line_mode_prologue() -> None:
    # ESC @: LM9 3.3 "ESC @ Command initialization" (p. 3-60).
    # ESC z 1: LM0 3-3-4 Line Spacing, "ESC z n", n = 1: 4 mm line feed amount (p. 3-27).
    # ESC GS t 1: LM9 3.3.1 Font Style and Character Set, "ESC GS t n Specify code page";
    #   1 = code page 437 (the profile's encoding).
    assert prologue(TSP650) == b"\x1b\x40" + b"\x1b\x7a\x01" + b"\x1b\x1d\x74\x01"


def test_line_mode_prologue_selects_the_profiles_code_page() -> None:
    # LM9 3.3.1 "ESC GS t n": 32 = Windows code page 1252.
    profile = get_profile("TSP600", {"encoding": "CP1252", "dialect": "star"})
    assert prologue(profile).endswith(b"\x1b\x1d\x74\x20")


def test_raster_only_prologue_is_initialise_alone() -> None:
    # ESC * r R, initialize raster mode: LM9 3.4 Raster Graphics Command Details, and the
    # STAR Graphic Mode Specifications (TSP100 class; Rev. 2.32, 3-2 Raster Graphics Command
    # Details), whose command list has no ESC @ (a Line Mode command, LM9 p. 3-60). The rest
    # of a raster-only rendering is raster sections.
    assert prologue(TSP143) == b"\x1b*rR"


# -- text and its styles -------------------------------------------------------------------


def test_plain_line_and_line_feed() -> None:
    # LF: LM9 3.3.4 Line Spacing, "LF Line feed" (p. 3-19): prints the line buffer.
    assert line_bytes(TextLine("TOTAL 9.80", Style())) == b"TOTAL 9.80\x0a"


def test_emphasis_on_and_off() -> None:
    # ESC E / ESC F: LM9 3.3.3 Print Mode, "Select/Cancel emphasized printing" (list p. 2-1).
    assert line_bytes(TextLine("A", Style(bold=True))) == b"\x1b\x45A\n\x1b\x46"


def test_underline_on_and_off() -> None:
    # ESC - n: LM9 3.3.3 Print Mode, "Select/cancel underline mode", n = 1 on, 0 off.
    # Both ESC/POS underline thicknesses print as Star's one underline.
    assert line_bytes(TextLine("A", Style(underline=2))) == b"\x1b\x2d\x01A\n\x1b\x2d\x00"


def test_double_width_and_height() -> None:
    # ESC i n1 n2: LM9 3.3.2 Character Expansion Settings (p. 3-11): n1 = height - 1,
    # n2 = width - 1.
    assert line_bytes(TextLine("A", Style(size=(2, 3)))) == b"\x1b\x69\x02\x01A\n\x1b\x69\x00\x00"


def test_sizes_over_six_print_at_six() -> None:
    # LM9 3.3.2 "ESC i": defined area 0..5 (1x..6x).
    assert line_bytes(TextLine("A", Style(size=(8, 8)))).startswith(b"\x1b\x69\x05\x05")


def test_font_b() -> None:
    # ESC RS F n: LM9 3.3.1 Font Style and Character Set, "ESC RS F Select font"; 1 = font B.
    assert line_bytes(TextLine("A", Style(font="b"))) == b"\x1b\x1e\x46\x01A\n\x1b\x1e\x46\x00"


@pytest.mark.parametrize(("align", "n"), [("center", 1), ("right", 2)])
def test_alignment(align: str, n: int) -> None:
    # ESC GS a n: LM0 3-42 "Specify position alignment": 0 left, 1 centre, 2 right.
    got = line_bytes(TextLine("A", Style(align=align)))  # type: ignore[arg-type]
    assert got == b"\x1b\x1d\x61" + bytes([n]) + b"A\n\x1b\x1d\x61\x00"


def test_style_commands_only_where_the_style_changes() -> None:
    bold = Style(bold=True)
    assert line_bytes(TextLine("A", bold), TextLine("B", bold)) == b"\x1bEA\nB\n\x1bF"


# -- code pages ----------------------------------------------------------------------------


def test_text_in_the_selected_code_page_needs_no_switch() -> None:
    # Code page 437 holds é at 0x82.
    assert line_bytes(TextLine("é", Style())) == b"\x82\n"


def test_a_character_outside_it_switches_code_page_and_back() -> None:
    # ESC GS t n: LM9 3.3.1; 4 = code page 858, which has € at 0xD5; back to 1 (437).
    assert line_bytes(TextLine("€", Style())) == b"\x1b\x1d\x74\x04\xd5\n\x1b\x1d\x74\x01"


def test_text_no_code_page_holds_is_drawn_like_the_escpos_path() -> None:
    # The layout marks the line for the raster fallback (render/text.py), the same decision
    # as for ESC/POS; in Star Line Mode it goes as bit images (ESC k, below).
    content = Content.model_validate({"document": {"blocks": [{"type": "text",
                                                                 "text": "谢谢"}]}})
    body = render_body(content, TSP650)
    assert body.startswith(b"\x1b\x6b\x48\x00")
    assert "谢".encode("gb18030") not in body


# -- paper movement ------------------------------------------------------------------------


def test_feed_lines() -> None:
    # ESC a n: LM9 3.3.4 Line Spacing, "Feed paper n lines" (p. 3-19), 1 <= n <= 127.
    assert line_bytes(FeedItem(3)) == b"\x1b\x61\x03"
    assert line_bytes(FeedItem(200)) == b"\x1b\x61\x7f\x1b\x61\x49"


@pytest.mark.parametrize(("partial", "n"), [(True, 3), (False, 2)])
def test_cut_with_feed(partial: bool, n: int) -> None:
    # ESC d n: LM0 3-3-11 Cutter Control (p. 3-60): 2 = feed to the cutting position and
    # full cut, 3 = the same with a partial cut.
    assert line_bytes(CutItem(partial)) == b"\x1b\x64" + bytes([n])


def test_no_cutter_feeds_instead() -> None:
    # ESC a 6, as the ESC/POS path feeds six lines on a printer without a cutter.
    assert line_bytes(CutItem(True), profile=NO_CUTTER) == b"\x1b\x61\x06"


# -- drawer --------------------------------------------------------------------------------


def test_drawer_one() -> None:
    # ESC BEL n1 n2: LM9 3.3.12 External Device Drive (p. 3-44), 10 ms units, 20/20 is the
    # initial 200 ms; BEL: the same section, "External device 1 drive instruction".
    assert line_bytes(DrawerItem(2)) == b"\x1b\x07\x14\x14\x07"


def test_drawer_two() -> None:
    # SUB: LM0 3-63 "External device 2 drive instruction" (fixed 200 ms).
    assert line_bytes(DrawerItem(5)) == b"\x1a"


# -- barcodes ------------------------------------------------------------------------------


def barcode(symbology: str, data: str, printer_data: str, *, width: int = 2,
            hri: str = "below", align: str = "left") -> BarcodeItem:
    return BarcodeItem(symbology=symbology, data=data, hri_text=data,
                       printer_data=printer_data, modules="1010", height=80, width=width,
                       hri=hri, align=align)  # type: ignore[arg-type]


def test_barcode_ean13() -> None:
    # ESC b n1 n2 n3 n4 d... RS: LM9 3.3.10 Bar Codes (p. 3-41, 3-42): n1 3 = JAN/EAN13,
    # n2 2 = characters under the bars (and a feed after), n3 1 = 2-dot modules,
    # n4 = height in dots; 12 digits (the printer adds the check digit).
    item = barcode("EAN13", "4006381333931", "400638133393", align="center")
    assert line_bytes(item) == (b"\x1b\x1d\x61\x01" + b"\x1b\x62\x03\x02\x01\x50"
                                + b"400638133393\x1e" + b"\x1b\x1d\x61\x00")


def test_barcode_code128_without_characters() -> None:
    # LM9 3.3.10: n1 6 = Code128 (data 0..127 as is), n2 1 = no characters under the bars,
    # n3 2 = 3-dot modules.
    item = barcode("CODE128", "R-1842", "{BR-1842", width=3, hri="none")
    assert line_bytes(item) == b"\x1b\x62\x06\x01\x02\x50R-1842\x1e"


def test_barcode_code39_narrow_wide() -> None:
    # LM9 3.3.10: n1 4 = Code39 (the printer adds the * start/stop), n3 5 = narrow:wide 3:8.
    assert line_bytes(barcode("CODE39", "AB1", "AB1", width=3)) == \
        b"\x1b\x62\x04\x02\x05\x50AB1\x1e"


def test_barcode_code128_percent_is_an_escape() -> None:
    # LM appendix "Code 128", Regulations: "%" starts a two-character code in ESC b data;
    # a "%" of the content is "%0", a control character "%" and 40-5F. The printer picks
    # the start code, so the ESC/POS "{B" selector is not sent.
    item = barcode("CODE128", "50%\x09", "{B50%\x09", hri="none")
    assert line_bytes(item) == b"\x1b\x62\x06\x01\x01\x5050%0%I\x1e"


def test_barcode_itf_has_its_own_narrow_wide_modes() -> None:
    # ESC b n3 for ITF (n1 5), from the width table of the Star Line Mode printer driver
    # manual (v3.11, "Barcode Font Usage", modes 1-9 = letters a-i): 1 = 2:5, 2 = 4:10; the
    # Code39/NW-7 modes 4-6 (2:5, 3:8, 4:10) are 2:4, 4:8, 6:12 for ITF.
    assert line_bytes(barcode("ITF", "1234", "1234", width=2)) == \
        b"\x1b\x62\x05\x02\x01\x501234\x1e"
    assert line_bytes(barcode("ITF", "1234", "1234", width=4)) == \
        b"\x1b\x62\x05\x02\x02\x501234\x1e"
    # 3:8 is not an ITF mode: drawn as a bit image.
    assert line_bytes(barcode("ITF", "1234", "1234", width=3, hri="none")).startswith(
        b"\x1b\x6b")


def test_barcode_characters_above_are_a_text_line() -> None:
    # The printer prints characters only under the bars.
    got = line_bytes(barcode("EAN8", "96385074", "9638507", hri="above"))
    assert got == b"96385074\n" + b"\x1b\x62\x02\x01\x01\x50" + b"9638507\x1e"


def test_barcode_module_width_the_printer_lacks_is_drawn() -> None:
    # 5-dot modules: no ESC b mode has them, so the bars go as a bit image (ESC k).
    assert line_bytes(barcode("EAN13", "4006381333931", "400638133393", width=5,
                              hri="none")).startswith(b"\x1b\x6b")


# -- QR codes ------------------------------------------------------------------------------


def test_qr_code() -> None:
    # LM9 3.13 Two-Dimensional Bar Code QR Code Command Details: ESC GS y S 0 n model (2),
    # ESC GS y S 1 n error correction (1 = M), ESC GS y S 2 n cell size (p. 3-119);
    # ESC GS y D 1 m nL nH d... data with automatic analysis, m = 0 (p. 3-120);
    # ESC GS y P print (LM0 p. 3-147).
    item = QrItem("hello", "M", 4, 21, "left")
    assert line_bytes(item) == (b"\x1b\x1d\x79\x53\x30\x02" + b"\x1b\x1d\x79\x53\x31\x01"
                                + b"\x1b\x1d\x79\x53\x32\x04"
                                + b"\x1b\x1d\x79\x44\x31\x00\x05\x00hello"
                                + b"\x1b\x1d\x79\x50")


def test_qr_code_without_native_qr_is_drawn() -> None:
    assert line_bytes(QrItem("hello", "M", 4, 21, "left"), profile=NO_QR).startswith(
        b"\x1b\x6b")


# -- pictures ------------------------------------------------------------------------------


def test_image_as_fine_density_bit_image_bands() -> None:
    # ESC k n1 n2 d...: LM9 3.3.8 Bit Image Graphics, "Fine density bit image" (p. 3-35):
    # n1 bytes across, n2 = 0, 24 rows of n1 bytes each, 1 dot per bit.
    # ESC J n: LM9 3.3.4 (p. 3-21), n/4 mm: 12 = 3 mm = 24 dots at 8 dots/mm.
    got = line_bytes(ImageItem(black(16, 2), "left"))
    assert got == b"\x1b\x6b\x02\x00" + b"\xff\xff" * 2 + b"\x00\x00" * 22 + b"\x1b\x4a\x0c"


def test_image_of_two_bands_centred() -> None:
    got = line_bytes(ImageItem(black(8, 30), "center"))
    # 576 dots: 284 dots of padding put the picture's byte at 35 and 36 (284 = 35*8 + 4).
    bands = got.split(b"\x1b\x4a\x0c")
    assert len(bands) == 3 and bands[2] == b""
    assert all(b.startswith(b"\x1b\x6b\x25\x00") and len(b) == 4 + 37 * 24 for b in bands[:2])


# -- raster only (TSP100 class) ------------------------------------------------------------


RASTER_ENTER = b"\x1b\x2a\x72\x41" + b"\x1b\x2a\x72\x50\x30\x00" + b"\x1b\x2a\x72\x45\x31\x00"
RASTER_QUIT = b"\x1b\x2a\x72\x42"


def test_raster_section_frame() -> None:
    # ESC * r A enter raster mode: LM9 3.4 Raster Graphics Command Details (p. 3-66);
    # ESC * r P n NUL page length, "0" = continuous (ASCII decimal);
    # ESC * r E n NUL EOT mode, "1" = form feed only, no cut (LM0 p. 3-94);
    # ESC * r B quit raster mode (LM0 p. 3-92).
    assert raster_bytes() == RASTER_ENTER + RASTER_QUIT


def test_raster_lines() -> None:
    # b n1 n2 d...: LM9 3.4 "Send raster data (auto line feed)" (p. 3-74): one dot row of
    # n1 + n2*256 bytes; trailing white bytes are not sent, a white row is one byte.
    writer = StarRasterWriter(TSP143)
    image = Image.new("1", (16, 2), 0)
    image.putpixel((0, 0), 1)
    writer.bitmap(image, "left")
    assert writer.finish() == RASTER_ENTER + b"b\x01\x00\x80" + b"b\x01\x00\x00" + RASTER_QUIT


def test_raster_feed() -> None:
    # ESC * r Y n NUL: LM0 3-102 "Move vertical direction position", n dots in ASCII; one
    # line of the profile is 34 dots (1/6 inch at 203 dpi).
    assert raster_bytes(FeedItem(1)) == RASTER_ENTER + b"\x1b\x2a\x72\x59" + b"34\x00" + \
        RASTER_QUIT


def test_raster_cut() -> None:
    # ESC * r E 13 NUL (form feed, cut feed, partial cut), ESC FF EOT execute EOT mode
    # (LM9 p. 3-77), ESC * r E 1 NUL back to no cut.
    assert raster_bytes(CutItem(True)) == (RASTER_ENTER + b"\x1b*rE13\x00" + b"\x1b\x0c\x04"
                                           + b"\x1b*rE1\x00" + RASTER_QUIT)
    assert b"\x1b*rE9\x00" in raster_bytes(CutItem(False))


def test_raster_drawer() -> None:
    # ESC * r D n NUL: LM0 3-93 "Drawer drive" in raster mode: 1 = external device 1.
    assert raster_bytes(DrawerItem(2)) == RASTER_ENTER + b"\x1b*rD1\x00" + RASTER_QUIT
    assert raster_bytes(DrawerItem(5)) == RASTER_ENTER + b"\x1b*rD2\x00" + RASTER_QUIT


def test_raster_only_text_is_raster_lines() -> None:
    got = raster_bytes(TextLine("HELLO", Style()))
    assert got.startswith(RASTER_ENTER + b"b") and b"HELLO" not in got


# -- sections: the marker ------------------------------------------------------------------


def png(width: int, height: int) -> str:
    buf = io.BytesIO()
    black(width, height).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


FULL = Content.model_validate({"document": {"blocks": [
    {"type": "text", "text": "CAFE ROMA", "align": "center", "bold": True, "size": [2, 2]},
    {"type": "text", "text": "Crème brûlée 4,50 €", "underline": 1, "font": "b"},
    {"type": "row", "left": "Espresso", "right": "2.90"},
    {"type": "rule"},
    {"type": "barcode", "data": "4006381333931", "symbology": "EAN13"},
    {"type": "barcode", "data": "R-1842", "symbology": "CODE128", "hri": "none"},
    {"type": "qr", "data": "https://example.com/r/1842", "ec": "M"},
    {"type": "image", "png": png(40, 30), "align": "center"},
    {"type": "feed", "lines": 2},
    {"type": "drawer", "pin": 2},
    {"type": "cut"},
]}})


@pytest.mark.parametrize("profile", [TSP650, TSP143], ids=["line", "raster"])
def test_marker_section_is_framed_and_replaceable(profile: Profile) -> None:
    # Line Mode frame: ESC 5 (LM9 3.3.3 Print Mode, "Cancel white/black inverted printing"),
    # a no-op as nothing here inverts; raster only: ESC * r B (LM0 p. 3-92) between sections.
    original = render(FULL, profile)
    marked = render(FULL, profile, marker=copy_marker(1, None))
    head, section, body = split_marker(marked, profile)
    mark = b"\x1b\x35" if profile.dialect == "star" else RASTER_QUIT
    assert section.startswith(mark) and section.endswith(mark)
    assert head + body == original and head == prologue(profile)
    assert with_marker(marked, None, profile) == original
    assert with_marker(original, copy_marker(1, None), profile) == marked
    assert with_marker(marked, copy_marker(2, None), profile) == render(
        FULL, profile, marker=copy_marker(2, None))


def test_raw_body_starting_with_the_delimiter_stays_body() -> None:
    raw = Content.model_validate({"raw": base64.b64encode(b"\x1b\x35HELLO\n").decode()})
    rendered = render(raw, TSP650)
    assert with_marker(rendered, None, TSP650) == rendered
    with pytest.raises(ValueError, match="unterminated"):
        split_marker(rendered, TSP650)


def test_escpos_stays_the_default() -> None:
    escpos = get_profile("TSP600", {"columns": 48, "columns_b": 64})
    assert escpos.dialect == "escpos"
    assert render(FULL, escpos).startswith(b"\x1b\x40\x1b\x74")


def test_a_star_dialect_needs_a_star_profile() -> None:
    with pytest.raises(ConfigError, match="needs a Star profile"):
        get_profile("TM-T88V", {"dialect": "star"})
    with pytest.raises(ConfigError, match="must be one of"):
        get_profile("TSP600", {"dialect": "zpl"})
    with pytest.raises(ConfigError, match="double_byte"):
        get_profile("TSP600", {"dialect": "star", "double_byte": "gb18030"})


# -- a whole receipt -----------------------------------------------------------------------

ESCPOS_ONLY = {
    "GS ( H": b"\x1d\x28\x48", "GS V": b"\x1d\x56", "GS v 0": b"\x1d\x76\x30",
    "GS k": b"\x1d\x6b", "DLE EOT": b"\x10\x04",
}


@pytest.mark.parametrize("profile", [TSP650, TSP143], ids=["line", "raster"])
def test_full_receipt_has_no_escpos_only_command(profile: Profile) -> None:
    data = render(FULL, profile, marker=copy_marker(1, None))
    for name, seq in ESCPOS_ONLY.items():
        assert seq not in data, name
    # GS a (ESC/POS status back): 1D 61 appears only inside Star's ESC GS a.
    assert all(data[i - 1] == 0x1B for i in range(1, len(data)) if data[i:i + 2] == b"\x1da")
    # Every byte is a Star command the paper walk knows: its last boundary is the end.
    assert command_boundaries(data, profile)[-1] == len(data)


def test_full_receipt_line_mode_bytes() -> None:
    expected = bytes.fromhex((FIXTURES / "full_receipt_line_mode.hex").read_text())
    assert render(FULL, TSP650) == expected


def test_full_receipt_line_mode_commands_in_order() -> None:
    data = render(FULL, TSP650)
    order = [b"\x1b@", b"\x1bi\x01\x01", b"CAFE ROMA\n", b"\x1b\x1eF\x01", b"\x1b\x1dt\x04",
             b"\x1bb\x03\x02\x01P400638133393\x1e", b"\x1bb\x06\x01\x01PR-1842\x1e",
             b"\x1b\x1dyP", b"\x1bk", b"\x1ba\x02", b"\x1b\x07\x14\x14\x07", b"\x1bd\x02"]
    at = [data.index(part) for part in order]
    assert at == sorted(at)


# -- paper ---------------------------------------------------------------------------------


def test_paper_of_star_bytes() -> None:
    dpmm = TSP650.dots_per_mm
    assert raw_paper_mm(b"ABC\n\x1ba\x02", TSP650) == pytest.approx(12.0)  # 3 lines of 4 mm
    assert raw_paper_mm(b"\x1bJ\x28", TSP650) == pytest.approx(10.0)  # ESC J 40: 10 mm
    assert raw_paper_mm(b"\x1bb\x03\x02\x01\x50400638133393\x1e", TSP650) == \
        pytest.approx(110 / dpmm)  # bars and a line of characters
    assert raw_paper_mm(b"\x1bd\x03", TSP650) == pytest.approx(28.0)  # cut feed and cut
    rows = RASTER_ENTER + b"b\x01\x00\x00" * 3 + b"\x1b*rY10\x00" + RASTER_QUIT
    assert raw_paper_mm(rows, TSP143) == pytest.approx(13 / dpmm)


def test_paper_walk_and_layout_agree_roughly() -> None:
    for profile in (TSP650, TSP143):
        data, estimate = render_measured(FULL, profile)
        assert estimate == paper_length_mm(FULL, profile)
        assert raw_paper_mm(data, profile) == pytest.approx(estimate, rel=0.35)


def test_boundaries_lie_between_commands() -> None:
    data = b"AB\n\x1bE\x1bk\x01\x00" + b"\x00" * 24 + b"\x1bJ\x0c"
    assert command_boundaries(data, TSP650) == [3, 5, 5 + 4 + 24, len(data)]

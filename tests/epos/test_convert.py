"""ePOS-Print elements as document blocks, one element at a time, and the ``<text>`` state
that lasts from one element to the next."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from receiptd.document.limits import MAX_IMAGE_HEIGHT
from receiptd.epos import EPOS_NS, SchemaError, Unsupported, convert, read_request
from receiptd.errors import TooLarge


def blocks(body: str) -> list[dict[str, Any]]:
    request = read_request(f'<epos-print xmlns="{EPOS_NS}">{body}</epos-print>'.encode())
    content = convert(request.document).content
    assert content.document is not None
    return [b.model_dump(mode="json", exclude_none=True) for b in content.document.blocks]


def notes(body: str) -> tuple[str, ...]:
    request = read_request(f'<epos-print xmlns="{EPOS_NS}">{body}</epos-print>'.encode())
    return convert(request.document).notes


def text(value: str, **kw: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, "align": "left", "bold": False, "underline": 0,
            "size": [1, 1], "font": "a", **kw}


def test_text_runs_on_until_a_line_feed() -> None:
    assert blocks("<text>Hello, </text><text>world&#10;</text><text>next</text>") == [
        text("Hello, world\nnext")]


def test_empty_text_elements_set_state_for_what_follows() -> None:
    got = blocks('<text align="center"/><text dw="true" dh="true"/><text em="true"/>'
                 "<text>CAFE&#10;</text>"
                 '<text dw="false" dh="false" em="false" align="left"/><text>Item&#10;</text>')
    assert got == [text("CAFE", align="center", bold=True, size=[2, 2]), text("Item")]


def test_width_height_underline_and_fonts() -> None:
    got = blocks('<text width="3" height="2" ul="true" font="font_b">A&#10;</text>'
                 '<text font="font_c" ul="0" width="1" height="1">B&#10;</text>'
                 '<text font="special_a">C&#10;</text>')
    assert got == [text("A", size=[3, 2], underline=1, font="b"), text("B", font="b"),
                   text("C")]


def test_alignment_is_the_one_in_force_when_the_line_began() -> None:
    got = blocks('<text>left</text><text align="right"/><text> still left&#10;then right</text>')
    assert got == [text("left still left"), text("then right", align="right")]


def test_a_line_in_several_styles_takes_its_first_visible_run_style() -> None:
    got = blocks('<text>   </text><text em="true">Total</text><text em="false" dw="true">'
                 " 9.00&#10;</text>")
    assert got == [text("   Total 9.00", bold=True)]


def test_x_pads_the_line_to_a_column() -> None:
    # Font A is 12 dots a column: x=120 is column 10; font B (9 dots): x=90 is column 10.
    assert blocks('<text>Tea</text><text x="120"/><text>2.00&#10;</text>') == [
        text("Tea" + " " * 7 + "2.00")]
    assert blocks('<text font="font_b">Tea</text><text x="90"/><text>2.00</text>') == [
        text("Tea" + " " * 7 + "2.00", font="b")]


def test_attributes_without_an_equivalent_are_noted_not_refused() -> None:
    got = notes('<text lang="ja" smooth="true" reverse="true" color="color_2" linespc="30" '
                'rotate="false" bogus="1">x</text>')
    assert "<text smooth> ignored" in got and "<text reverse> ignored" in got
    assert "<text bogus> ignored" in got


@pytest.mark.parametrize("element", [
    '<text align="middle">x</text>', '<text dw="yes">x</text>', '<text width="9">x</text>',
    '<text x="-1">x</text>', '<text font="font_z">x</text>', "<text>a<b/>c</text>",
])
def test_bad_text_attributes_are_schema_errors(element: str) -> None:
    with pytest.raises(SchemaError):
        blocks(element)


def test_feed_lines_and_units() -> None:
    # After text, feed line=N prints the line and feeds N-1 blank lines more (ESC d n);
    # on an empty line it feeds N. unit is in dots, 30 to a line.
    assert blocks('<text>A</text><feed line="3"/><feed line="2"/><text>B</text>') == [
        text("A"), {"type": "feed", "lines": 4}, text("B")]
    assert blocks('<text>A&#10;</text><feed unit="60"/><text>B</text><feed/>') == [
        text("A"), {"type": "feed", "lines": 2}, text("B")]
    assert blocks("<text>A&#10;&#10;&#10;B</text>") == [
        text("A"), {"type": "feed", "lines": 2}, text("B")]


def odoo_raster(width: int, height: int) -> tuple[str, bytes]:
    """A checkerboard of 8-dot squares, packed as Odoo packs its canvas: 1 = black, 8 dots
    a byte, most significant first."""
    rows = []
    for y in range(height):
        rows.append(bytes(0xFF if ((x // 8) + (y // 8)) % 2 == 0 else 0x00
                          for x in range(0, width, 8)))
    data = b"".join(rows)
    return base64.b64encode(data).decode(), data


def png_pixels(block: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(block["png"])))


def test_image_mono_becomes_a_png_with_the_same_dots() -> None:
    encoded, _ = odoo_raster(64, 16)
    got = blocks(f'<image width="64" height="16" align="center">{encoded}</image>'
                 '<cut type="feed"/>')
    assert [b["type"] for b in got] == ["image", "cut"] and got[0]["align"] == "center"
    image = png_pixels(got[0]).convert("L")
    assert image.size == (64, 16)
    assert image.getpixel((0, 0)) == 0 and image.getpixel((8, 0)) == 255  # black, white
    assert image.getpixel((0, 8)) == 255 and image.getpixel((8, 8)) == 0


def test_image_takes_the_text_alignment_without_its_own() -> None:
    encoded, _ = odoo_raster(8, 1)
    got = blocks(f'<text align="right"/><image width="8" height="1">{encoded}</image>')
    assert got[0]["align"] == "right"


def test_gray16_image_is_dithered_to_black_and_white() -> None:
    data = bytes([0xFF] * 4 + [0x00] * 4)  # 8 dots wide: a row of 15s, then a row of 0s
    got = blocks(f'<image width="8" height="2" mode="gray16">'
                 f"{base64.b64encode(data).decode()}</image>")
    image = png_pixels(got[0]).convert("L")
    assert [image.getpixel((x, 0)) for x in range(8)] == [0] * 8
    assert [image.getpixel((x, 1)) for x in range(8)] == [255] * 8


def test_a_tall_image_prints_in_bands() -> None:
    height = MAX_IMAGE_HEIGHT + 100
    encoded = base64.b64encode(bytes(height)).decode()
    got = blocks(f'<image width="8" height="{height}">{encoded}</image>')
    assert [png_pixels(b).size for b in got] == [(8, MAX_IMAGE_HEIGHT), (8, 100)]


@pytest.mark.parametrize("element", [
    '<image width="8" height="2">AA==</image>',  # 1 byte, not 2 rows of 1
    '<image width="8" height="1">not base64!</image>',
    '<image height="1">AA==</image>',
    '<image width="8" height="1" mode="color">AA==</image>',
    '<image width="4000" height="1">AA==</image>',
])
def test_bad_images_are_schema_errors(element: str) -> None:
    with pytest.raises(SchemaError):
        blocks(element)


def test_barcodes() -> None:
    got = blocks('<text align="center"/><barcode type="ean13" hri="below" width="2" '
                 'height="60">4006381333931</barcode>'
                 '<barcode type="code128">{B12\\x41\\\\</barcode>'
                 '<barcode type="code128">{C\\x0c\\x22</barcode>')
    assert got == [
        {"type": "barcode", "data": "4006381333931", "symbology": "EAN13", "height": 60,
         "width": 2, "hri": "below", "align": "center"},
        {"type": "barcode", "data": "12A\\", "symbology": "CODE128", "height": 80,
         "width": 2, "hri": "none", "align": "center"},
        {"type": "barcode", "data": "1234", "symbology": "CODE128", "height": 80,
         "width": 2, "hri": "none", "align": "center"},
    ]


def test_barcodes_without_an_equivalent() -> None:
    assert blocks('<barcode type="code93">AB12</barcode>')[0]["symbology"] == "CODE128"
    assert blocks('<barcode type="upc_e">01234565</barcode>') == [text("01234565")]
    assert "<barcode type=upc_e> printed as text" in notes(
        '<barcode type="upc_e">01234565</barcode>')
    with pytest.raises(Unsupported):
        blocks('<barcode type="code128">{BAB{CCD</barcode>')
    with pytest.raises(SchemaError):
        blocks('<barcode type="ean13">12345\\xZZ</barcode>')


def test_symbols() -> None:
    got = blocks('<symbol type="qrcode_model_2" level="level_h" width="5">'
                 "https://example.com/r/1</symbol>"
                 '<symbol type="pdf417_standard" level="level_3">PDF-DATA</symbol>')
    assert got == [
        {"type": "qr", "data": "https://example.com/r/1", "size": 5, "ec": "H",
         "align": "left"},
        {"type": "qr", "data": "PDF-DATA", "size": 3, "ec": "M", "align": "left"},
    ]
    assert "<symbol type=pdf417_standard> printed as a QR code" in notes(
        '<symbol type="pdf417_standard">X</symbol>')


def test_cut_pulse_rule_and_what_is_left_out() -> None:
    got = blocks('<text>A</text><cut type="no_feed"/><pulse drawer="drawer_2" '
                 'time="pulse_200"/><pulse/><hline x1="0" x2="500" style="thin_double"/>'
                 '<logo key1="48" key2="48"/><sound pattern="pattern_a"/><layout/>')
    assert got == [text("A"), {"type": "cut", "partial": False},
                   {"type": "drawer", "pin": 5}, {"type": "drawer", "pin": 2},
                   {"type": "rule", "char": "="}]


def test_page_content_prints_in_order() -> None:
    got = blocks('<page><area x="0" y="0" width="500" height="300"/>'
                 '<direction dir="left_to_right"/><position x="0" y="30"/>'
                 "<text>In a page&#10;</text></page><text>after</text>")
    assert got == [text("In a page\nafter")]


@pytest.mark.parametrize("body", [
    "<command>1b40</command>",
    '<page><line x1="0" y1="0" x2="10" y2="10"/></page>',
    '<page><direction dir="bottom_to_top"/></page>',
])
def test_what_cannot_print_faithfully_is_refused(body: str) -> None:
    with pytest.raises(Unsupported):
        blocks(body)


@pytest.mark.parametrize("body", [
    "<bogus/>", "<page><page/></page>", '<area x="0" y="0" width="1" height="1"/>',
    '<text xmlns="urn:other">x</text>', "<sound/>", "",
])
def test_unknown_misplaced_or_empty_is_a_schema_error(body: str) -> None:
    with pytest.raises(SchemaError):
        blocks(body)


def test_odoo_style_elements_without_a_namespace_are_read() -> None:
    # Odoo strips xmlns="" from its <image> and <cut>; an element left in no namespace
    # inside <epos-print> is read as ePOS-Print all the same.
    request = read_request(
        f'<epos-print xmlns="{EPOS_NS}"><cut xmlns=""/></epos-print>'.encode())
    assert [b.type for b in convert(request.document).content.document.blocks] == ["cut"]


def test_past_the_document_limits_is_too_large() -> None:
    with pytest.raises(TooLarge):
        blocks("".join(f'<text em="{"true" if i % 2 else "false"}">{i}&#10;</text>'
                       for i in range(600)))

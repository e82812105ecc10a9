"""The shipped font: what it covers, that the raster fallback uses it whatever the machine has,
that text nothing can print is refused at submission (never printed as ``?``), that previews
show real glyphs, and that the font is loaded only when a line needs it.

"A fresh machine without CJK fonts" is ``glyphs.use_system_fonts(False)`` here (the same
switch the daemon's configuration sets); ``test_fonts_e2e.py`` hides the system fonts from a
real daemon process with an empty fontconfig configuration instead.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from wcwidth import wcswidth, wcwidth

from receiptd.document import Content
from receiptd.errors import InvalidDocument, UnprintableText
from receiptd.render import TextLine, fonts, glyphs, layout, line_bitmap, render, render_body
from receiptd.render.preview import preview_png, preview_text
from receiptd.render.profiles import get_profile
from receiptd.render.text import NAMED_AT_MOST, charset_of, script_support

LATIN = get_profile("TM-T88V")  # no double-byte set: every CJK character is drawn
CN = get_profile("TM-T88V", {"double_byte": "gb18030"})
GS_V0 = b"\x1dv0\x00"
PRIVATE_USE = "\ue000"  # no code page, no double-byte set, no shipped font has it
UNASSIGNED = "\u0378"


@pytest.fixture(autouse=True)
def shipped_font_only() -> Iterator[None]:
    glyphs.use_system_fonts(False)
    yield
    glyphs.use_system_fonts(True)


def text(t: str, **style: Any) -> Content:
    return Content.model_validate({"document": {"blocks": [{"type": "text", "text": t,
                                                            **style}]}})


def _charset(codec: str, leads: range, trails: list[int]) -> set[str]:
    out = set()
    for lead in leads:
        for trail in trails:
            try:
                char = bytes([lead, trail]).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(char) == 1:
                out.add(char)
    return out


HI = list(range(0xA1, 0xFF))
SJIS_TRAIL = [*range(0x40, 0x7F), *range(0x80, 0xFD)]
REPERTOIRES = {
    "GB2312 (all 7445)": _charset("gb2312", range(0xA1, 0xF8), HI),
    "Big5 common hanzi (A440-C67E)": _charset("big5", range(0xA4, 0xC7),
                                              [*range(0x40, 0x7F), *HI]),
    "JIS X 0208 level 1 kanji": _charset("shift_jis", range(0x88, 0x99), SJIS_TRAIL),
    "KS X 1001 Hangul (2350)": _charset("euc_kr", range(0xB0, 0xC9), HI),
    "hiragana and katakana": {chr(c) for c in [*range(0x3041, 0x3095), *range(0x30A1, 0x30F7)]},
}


# -- the font and its coverage -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(REPERTOIRES))
def test_the_shipped_font_covers_the_cjk_repertoires(name: str) -> None:
    shipped = fonts.packaged()
    assert shipped is not None, f"missing {fonts.packaged_path()}"
    chars = REPERTOIRES[name]
    assert len(chars) > 150
    missing = sorted(c for c in chars if glyphs.font_for(c) is None)
    assert missing == [], f"{name}: {len(missing)} missing, e.g. {''.join(missing[:20])}"
    assert {glyphs.font_for(c) for c in list(chars)[:50]} == {
        glyphs.FontRef(shipped.path, shipped.index, fonts.PACKAGED_FAMILY)}


def test_cmap_reader_refuses_what_is_not_a_font(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"this is no font at all")
    with pytest.raises(ValueError, match="not a TrueType"):
        fonts.cmap_coverage(bogus)
    with pytest.raises(ValueError, match="no face 7"):
        fonts.cmap_coverage(fonts.packaged_path(), 7)
    with pytest.raises(OSError):
        fonts.cmap_coverage(tmp_path / "absent.ttc")
    # both faces of the collection read, and have the same CJK characters
    faces = [fonts.cmap_coverage(fonts.packaged_path(), i) for i in (0, 1)]
    for face in faces:
        cjk = [(s, e) for s, e in zip(face.starts, face.ends, strict=True) if s <= 0x9FA5
               and e >= 0x4E00]
        assert cjk == [(0x4E00, 0x9FA5)] or cjk[0][0] <= 0x4E00 <= 0x9FA5 <= cjk[-1][1]
    assert len(faces[0]) > 30000 and len(faces[1]) > 30000


# -- the raster fallback uses it ---------------------------------------------------------------


def _raster_rows(body: bytes) -> list[Image.Image]:
    """The ``GS v 0`` images in ``body`` as mode "1" bitmaps (1 = black dot)."""
    images, at = [], 0
    while (at := body.find(GS_V0, at)) >= 0:
        width = int.from_bytes(body[at + 4:at + 6], "little")
        height = int.from_bytes(body[at + 6:at + 8], "little")
        data = body[at + 8:at + 8 + width * height]
        images.append(Image.frombytes("1", (width * 8, height), data))
        at += 8 + width * height
    return images


@pytest.mark.parametrize("line", ["收银小票", "謝謝光臨", "ありがとう カタカナ", "감사합니다"])
def test_cjk_prints_as_an_image_of_real_glyphs_on_a_printer_without_double_byte(
    line: str
) -> None:
    items = layout(text(line), LATIN)
    assert items is not None and isinstance(items[0], TextLine)
    assert items[0].raster and items[0].text == line  # kept whole, not "?"
    images = _raster_rows(render_body(text(line), LATIN))
    assert len(images) == 1
    dots = images[0]
    box = dots.getbbox()
    assert box is not None
    # ink over the line's columns (12 dots each, two for a wide character), none beyond
    columns = wcswidth(line)
    assert box[0] < 12 and (columns - 2) * 12 < box[2] <= columns * 12
    # every character's cell has ink: nothing was left out or blank
    col = 0
    for char in line:
        width = wcwidth(char)
        if char != " ":
            assert dots.crop((col * 12, 0, (col + width) * 12, dots.height)).getbbox(), char
        col += width


def test_glyphs_are_one_bit_and_hinted_at_both_character_heights() -> None:
    for font, size in (("a", 24), ("b", 17)):
        strip = glyphs.draw_line("收银票ｶ감", cell=12 if font == "a" else 9, glyph_height=size,
                                 height=size, width=200)
        # drawn in one bit: only black and white, so the threshold changes nothing
        histogram = strip.histogram()
        assert histogram[0] and histogram[255] and sum(histogram[1:255]) == 0, font
    # the double-byte printer still prints Chinese itself; only Hangul is drawn
    assert not layout(text("收银小票"), CN)[0].raster  # type: ignore[index, union-attr]
    assert layout(text("김치"), CN)[0].raster  # type: ignore[index, union-attr]


def test_the_machines_fonts_come_first_when_allowed_and_never_when_not() -> None:
    shipped = fonts.packaged()
    assert shipped is not None
    # Off: only the shipped font, whatever fontconfig lists.
    assert glyphs.font_for("中") == glyphs.FontRef(shipped.path, shipped.index,
                                                   fonts.PACKAGED_FAMILY)
    assert glyphs.font_for("\U0001f600") is None  # no emoji in it: refused, not drawn
    # On: a machine font that covers the character ranks before the shipped one (here:
    # Noto CJK if installed); without one the shipped font still draws it.
    glyphs.use_system_fonts(True)
    assert glyphs.system_fonts()
    ref = glyphs.font_for("中")
    assert ref is not None
    installed = [f.ref for f in glyphs._installed() if f.covers(ord("中"))]
    noto = [r for r in installed if r.family.startswith("Noto Sans")]
    assert ref in (noto or [glyphs.FontRef(shipped.path, shipped.index,
                                           fonts.PACKAGED_FAMILY)])


# -- refused at submission ---------------------------------------------------------------------


@pytest.mark.parametrize("char", [PRIVATE_USE, UNASSIGNED, "\U0001f600", "\U000f0000"])
def test_text_nothing_can_print_is_refused_naming_the_character(char: str) -> None:
    content = Content.model_validate({"text": f"Total 12.00 {char} 收银"})
    with pytest.raises(UnprintableText) as caught:
        render(content, LATIN)
    err = caught.value
    assert isinstance(err, InvalidDocument)  # a 422 like every document that cannot print
    assert (err.code, err.status) == ("unprintable_text", 422)
    assert f"U+{ord(char):04X}" in err.message
    assert repr(char) in err.message
    assert "收" not in err.message  # only what cannot print is named
    assert "install a font package" in err.message and "double_byte" in err.message
    assert "system_fonts" in err.message  # the fonts that were looked at


def test_the_refusal_names_each_character_once_and_at_most_a_few() -> None:
    many = "".join(chr(0xE000 + i) for i in range(NAMED_AT_MOST + 3))
    blocks = [{"type": "row", "left": many, "right": "1.00"},
              {"type": "text", "text": many + many}]
    with pytest.raises(UnprintableText) as caught:
        render(Content.model_validate({"document": {"blocks": blocks}}), CN)
    message = caught.value.message
    assert message.count("U+E000") == 1
    assert f"U+{0xE000 + NAMED_AT_MOST - 1:04X}" in message
    assert f"U+{0xE000 + NAMED_AT_MOST:04X}" not in message
    assert "and 3 more" in message
    assert "double-byte set (gb18030)" in message


def test_zero_width_and_control_characters_are_not_refused() -> None:
    # Zero-width characters are dropped and controls replaced, as before: not a refusal.
    items = layout(text("a\u200bbc\x07d"), LATIN)
    assert items is not None and items[0].text == "abc?d"  # type: ignore[union-attr]


# -- previews ----------------------------------------------------------------------------------


def test_preview_shows_the_real_glyphs() -> None:
    content = Content.model_validate({"document": {"blocks": [
        {"type": "text", "text": "收银小票", "align": "center", "bold": True},
        {"type": "row", "left": "감사합니다", "right": "1.00"},
        {"type": "text", "text": "ありがとう", "font": "b"},
    ]}})
    shown = preview_text(content, LATIN)
    assert "?" not in shown and "收银小票" in shown and "감사합니다" in shown
    image = Image.open(io.BytesIO(preview_png(content, LATIN))).convert("L")
    items = layout(content, LATIN)
    assert items is not None
    # the PNG's first text line is exactly the dots the printer gets for it
    first = line_bitmap(items[0], LATIN)  # type: ignore[arg-type]
    dots = Image.eval(image.crop((0, 16, LATIN.width_dots, 16 + first.height)),
                      lambda v: 255 if v < 128 else 0).convert("1")
    assert dots.tobytes() == first.tobytes()


def test_preview_of_a_receipt_journaled_before_the_refusal_shows_question_marks() -> None:
    content = text(f"old {PRIVATE_USE} receipt")
    with pytest.raises(UnprintableText):
        render(content, LATIN)
    assert preview_text(content, LATIN).splitlines()[0] == "old ? receipt"
    assert preview_png(content, LATIN).startswith(b"\x89PNG")


# -- what health reports ------------------------------------------------------------------------


def test_script_support_says_how_each_script_prints() -> None:
    drawn = {s["script"]: s for s in script_support(LATIN)}
    assert set(drawn) == {"Chinese (simplified)", "Chinese (traditional)", "Japanese", "Korean"}
    for script in drawn.values():
        assert script["prints"] and script["by"] == "font", script
        assert script["font"] == fonts.PACKAGED_FAMILY and script["missing"] == ""
    own = {s["script"]: s for s in script_support(CN)}
    assert own["Chinese (simplified)"]["by"] == "printer"
    assert own["Chinese (simplified)"]["font"] is None
    assert own["Korean"]["by"] == "font"  # Hangul is not in GBK
    assert charset_of(CN).encodable("收")


# -- loaded lazily -----------------------------------------------------------------------------

_LAZY = """
import json, resource
from receiptd.document import Content
from receiptd.render import fonts, glyphs, render
from receiptd.render.profiles import get_profile
glyphs.use_system_fonts(False)
profile = get_profile("TM-T88V")
def rss_kb():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 1024
render(Content.model_validate({"text": "Latte 4.50 Größe €"}), profile)
idle = (fonts.packaged.cache_info().currsize, glyphs._load.cache_info().currsize, rss_kb())
render(Content.model_validate({"text": "收银小票"}), profile)
used = (fonts.packaged.cache_info().currsize, glyphs._load.cache_info().currsize, rss_kb())
print(json.dumps({"idle": idle, "used": used}))
"""


def test_the_font_is_loaded_on_the_first_line_that_needs_it_only() -> None:
    out = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["idle"][:2] == [0, 0]  # text the printer prints itself: no font opened
    assert result["used"][:2] == [1, 1]

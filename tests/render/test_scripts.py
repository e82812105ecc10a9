"""Every script on the slip: code pages, the double-byte (Kanji) modes, width-aware layout and
wrapping, the font raster fallback, and the emulator decoding the same bytes back.

Byte fixtures pin the exact commands; the pure emulator model (``PrinterModel``, written
independently of the renderer) then shows that what it prints is the text that was laid out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from wcwidth import wcswidth

from receiptd.config import load_config
from receiptd.document import Content
from receiptd.emulator.model import EmulatorError, PrinterConfig, PrinterModel
from receiptd.errors import ConfigError, UnprintableText
from receiptd.render import (
    TextLine,
    glyphs,
    layout,
    prologue,
    render,
    render_body,
    text_width,
    wrap,
)
from receiptd.render.preview import preview_png, preview_text
from receiptd.render.profiles import Profile, get_profile, resolve_profile

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
KON, KOFF = FS + b"&", FS + b"."

CN = get_profile("TM-T88V", {"double_byte": "gb18030"})
TW = get_profile("TM-T88V", {"double_byte": "big5"})
JP = get_profile("TM-T88V", {"double_byte": "shift_jis"})
KR = get_profile("TM-T88V", {"double_byte": "ksc5601"})
LATIN = get_profile("TM-T88V")
CN58 = get_profile("TM-P20", {"double_byte": "gb18030"})  # 58 mm, 32 columns
CN80_48 = get_profile("TM-T20II", {"double_byte": "gb18030"})  # 80 mm, 48 columns
# Chinese, Japanese and Korean always have a font (the one receiptd ships); emoji only a
# system font (Symbola).
needs_emoji_font = pytest.mark.skipif(
    any(glyphs.font_for(c) is None for c in "\U0001f600\U0001f35c"),
    reason="no emoji font installed (apt-get install fonts-symbola)",
)


def doc(*blocks: dict[str, Any]) -> Content:
    return Content.model_validate({"document": {"blocks": list(blocks)}})


def text(t: str) -> Content:
    return doc({"type": "text", "text": t})


def emulate(data: bytes, cjk: str = "gb18030", columns: int = 42) -> list[dict[str, Any]]:
    """What the emulator prints for these bytes (its own decoder, not the renderer's)."""
    model = PrinterModel(PrinterConfig(cjk=cjk, columns=columns, speed_mm_s=1e6), now=0.0)
    fed = model.feed(data, 0.0)
    assert fed == len(data)
    model.advance(1000.0)
    return model.transcript.entries()


def printed_texts(data: bytes, cjk: str = "gb18030", columns: int = 42) -> list[str]:
    return [e["text"] for e in emulate(data, cjk, columns) if e["type"] == "text"]


# -- bytes: one fixture per encoding and per mode switch ----------------------------------------


@pytest.mark.parametrize(("profile", "line", "body"), [
    # Simplified Chinese (GB18030), ASCII kept inside the Kanji run: one FS & ... FS . pair
    (CN, "收银 Total 12", KON + "收银 Total 12".encode("gb18030") + KOFF),
    # Latin first: the Kanji mode starts only at the first wide character
    (CN, "Tea 茶", b"Tea " + KON + "茶".encode("gb18030") + KOFF),
    # Traditional Chinese (Big5)
    (TW, "臺北 店", KON + "臺北 店".encode("big5") + KOFF),
    # Japanese kanji + hiragana (Shift_JIS, FS C 1 is in the prologue)
    (JP, "領収書です", KON + "領収書です".encode("shift_jis") + KOFF),
    # Korean (KS C 5601 as EUC-KR byte pairs)
    (KR, "영수증", KON + "영수증".encode("euc_kr") + KOFF),
])
def test_double_byte_bytes(profile: Profile, line: str, body: bytes) -> None:
    assert render_body(text(line), profile) == body + b"\n"


def test_mode_switches_only_where_needed() -> None:
    # A code page character between two Chinese runs: out of Kanji mode, ESC t, back in.
    body = render_body(text("中文 é 中文"), CN)
    assert body == (KON + "中文 ".encode("gb18030") + KOFF + b"\x82 " + KON
                    + "中文".encode("gb18030") + KOFF + b"\n")
    # Half-width katakana is a single-byte code page (ESC t 1) on a Japanese printer.
    body = render_body(text("領収 ｶﾞｰﾄﾞ"), JP)
    assert body == (KON + "領収 ".encode("shift_jis") + KOFF + ESC + b"t\x01"
                    + "ｶﾞｰﾄﾞ".encode("shift_jis") + b"\n" + ESC + b"t\x00")


def test_prologues() -> None:
    init, cp437 = ESC + b"@", ESC + b"t\x00"
    assert prologue(LATIN) == init + cp437
    assert prologue(CN) == init + cp437 + KOFF
    assert prologue(KR) == init + cp437 + KOFF
    assert prologue(JP) == init + cp437 + FS + b"C\x01" + KOFF


@pytest.mark.parametrize(("line", "pages"), [
    ("Größe 5 €", [16]),  # Latin-1 accents and the euro sign: WPC1252 holds both
    ("Привет мир", [17]),  # Cyrillic: PC866
    ("Καλημέρα", [14]),  # Greek: PC737
    ("café Привет", [17]),  # two scripts on a line: one switch, at the boundary
])
def test_single_byte_code_page_per_run(line: str, pages: list[int]) -> None:
    body = render_body(text(line), LATIN)
    switches = [body[i + 2] for i in range(len(body) - 2) if body[i:i + 2] == ESC + b"t"]
    assert switches == [*pages, 0]  # and back to the prologue's page at the end
    assert printed_texts(prologue(LATIN) + body) == [line]


# -- the emulator decodes the same modes --------------------------------------------------------


@pytest.mark.parametrize(("profile", "cjk", "line"), [
    (CN, "gb18030", "宫保鸡丁 Kung Pao ¥38 收银小票（大杯）"),
    (TW, "big5", "珍珠奶茶 Bubble tea 臺灣"),
    (JP, "shift_jis", "領収書 ありがとう カタカナ ｶﾀｶﾅ"),
    (KR, "ksc5601", "영수증 Receipt 감사합니다"),
    (LATIN, "gb18030", "Größe € Привет Καλημέρα"),
])
def test_emulator_prints_the_original_text(profile: Profile, cjk: str, line: str) -> None:
    data = render(text(line), profile)
    assert printed_texts(data, cjk) == [line]


def test_emulator_rejects_an_unknown_cjk_setting() -> None:
    with pytest.raises(EmulatorError, match="cjk"):
        PrinterModel(PrinterConfig(cjk="utf-8"))


# -- width-aware layout ------------------------------------------------------------------------

MIXED_ROWS = [
    ("宫保鸡丁 Kung Pao Chicken", "38.00"),
    ("珍珠奶茶（大杯，少冰）", "¥16.50"),
    ("Beef noodle soup 牛肉面 with extra chilli oil and coriander", "42.00"),
    ("Latte", "4.50"),
    ("合计", "¥96.50"),
]


@pytest.mark.parametrize("profile", [CN58, CN, CN80_48], ids=["58mm-32", "80mm-42", "80mm-48"])
def test_rows_align_for_mixed_width_text(profile: Profile) -> None:
    content = doc(*({"type": "row", "left": a, "right": b} for a, b in MIXED_ROWS),
                  {"type": "rule"}, {"type": "text", "text": "谢谢", "align": "center"})
    items = layout(content, profile)
    assert items is not None
    lines = [i for i in items if isinstance(i, TextLine)]
    assert not any(line.raster for line in lines)  # all printable in GB18030 + code pages
    rows = [line.text for line in lines if line.text.rstrip().endswith(("0", "-"))]
    assert len(rows) == len(MIXED_ROWS) + 1  # each row's last line, and the rule
    for row in rows:
        assert text_width(row) == profile.columns
    # What the printer prints has the same width: the emulator's lines end at the paper.
    printed = printed_texts(render(content, profile), columns=profile.columns)
    ends = [t for t in printed if t.rstrip().endswith(("38.00", "16.50", "42.00", "96.50"))]
    assert len(ends) == 4
    assert all(wcswidth(t) == profile.columns for t in ends)
    # the preview shows the same columns
    shown = [t for t in preview_text(content, profile).splitlines() if t.endswith("96.50")]
    assert len(shown) == 1 and wcswidth(shown[0]) == profile.columns


def test_wrap_breaks_cjk_anywhere_and_latin_at_spaces() -> None:
    assert wrap("一二三四五六七八九十", 8) == ["一二三四", "五六七八", "九十"]
    # never inside a wide character: 7 columns hold three of them
    assert wrap("一二三四五", 7) == ["一二三", "四五"]
    # Latin words stay whole; between Latin and CJK the line may break
    assert wrap("Kung Pao Chicken 宫保鸡丁", 12) == ["Kung Pao", "Chicken 宫保", "鸡丁"]
    # kinsoku: no line starts with closing punctuation, none ends with an opening one
    assert wrap("大杯，少冰", 4) == ["大", "杯，", "少冰"]
    assert wrap("买（大杯）", 4) == ["买", "（大", "杯）"]


@pytest.mark.parametrize("width", [5, 7, 11, 32])
def test_wrap_fits_and_keeps_every_character(width: int) -> None:
    source = "珍珠奶茶（大杯，少冰，半糖）加椰果 Bubble tea with extra pearls 谢谢惠顾"
    lines = wrap(source, width)
    assert all(text_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == source.replace(" ", "")


# -- fallback: lines the printer cannot print become images -----------------------------------


@pytest.mark.parametrize(("profile", "line"), [
    (LATIN, "收银小票"),  # no double-byte set: Chinese as an image
    (CN, "김치찌개 kimchi"),  # Hangul is not in GBK (2-byte GB18030)
    pytest.param(CN, "Thanks 😀", marks=needs_emoji_font),  # emoji: no printer has it
    pytest.param(CN58, "🍜 拉面 12.00", marks=needs_emoji_font),
])
def test_unprintable_lines_become_paper_wide_images(profile: Profile, line: str) -> None:
    items = layout(text(line), profile)
    assert items is not None and isinstance(items[0], TextLine)
    assert items[0].raster and items[0].text == line
    body = render_body(text(line), profile)
    assert body.startswith(GS + b"v0\x00" + (profile.width_dots // 8).to_bytes(2, "little"))
    for seq in (b"\x10\x04", b"\x10\x05", b"\x10\x14"):
        assert seq not in body
    entries = emulate(render(text(line), profile), columns=profile.columns)
    line_dots = round(profile.line_mm * profile.dots_per_mm)
    assert entries[0] == {"type": "image", "width": profile.width_dots, "height": line_dots}


@needs_emoji_font
def test_fallback_image_has_ink_where_the_characters_are() -> None:
    profile = CN
    items = layout(doc({"type": "text", "text": "😀😀", "align": "right"}), profile)
    assert items is not None and isinstance(items[0], TextLine)
    from receiptd.render import line_bitmap

    bitmap = line_bitmap(items[0], profile)
    assert bitmap.size == (profile.width_dots, round(profile.line_mm * profile.dots_per_mm))
    box = bitmap.getbbox()
    assert box is not None
    # right-aligned, two wide characters = four 12-dot columns at the right edge
    assert box[0] >= profile.width_dots - 4 * 12 - 1 and box[2] <= profile.width_dots


def test_characters_without_a_font_are_refused_not_printed_as_question_marks() -> None:
    with pytest.raises(UnprintableText, match="U\\+F0000"):
        layout(text("a\U000f0000b"), CN)
    # ... but a preview of such a receipt journaled before shows the "?" its paper had
    assert preview_text(text("a\U000f0000b"), CN) == "a?b\n"


# -- previews --------------------------------------------------------------------------------


@needs_emoji_font
def test_previews_show_cjk() -> None:
    content = doc({"type": "row", "left": "宫保鸡丁", "right": "38.00"},
                  {"type": "text", "text": "김치 😀"})
    shown = preview_text(content, CN58).splitlines()
    assert shown[0] == "宫保鸡丁" + " " * 19 + "38.00"
    assert shown[1] == "김치 😀"
    png = preview_png(content, CN58)
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png))
    assert image.width == CN58.width_dots
    # the Chinese characters are drawn: ink in the first 8 columns of the first line
    first_line = image.crop((0, 16, 8 * 12, 16 + 30)).convert("L")
    assert first_line.getextrema()[0] < 128


# -- configuration ---------------------------------------------------------------------------


def test_profiles_section_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "receiptd.toml"
    path.write_text(
        '[profiles.shop-58]\nbase = "POS-5890"\ndouble_byte = "gb18030"\n'
        '[printers.front]\nurl = "tcp://127.0.0.1:9100"\nprofile = "shop-58"\n'
        '[printers.back]\nurl = "tcp://127.0.0.1:9101"\nprofile = "shop-58"\n'
        '[printers.back.profile_overrides]\ndouble_byte = "big5"\n'
        '[printers.side]\nurl = "tcp://127.0.0.1:9102"\n'
        '[printers.side.profile_overrides]\ncolumns = 48\nwidth_dots = 576\n'
    )
    config = load_config(path)
    front = resolve_profile("shop-58", {}, config.profiles, where="printers.front")
    back = resolve_profile("shop-58", config.printers["back"].profile_overrides,
                           config.profiles, where="printers.back")
    side = resolve_profile("TM-T88V", config.printers["side"].profile_overrides,
                           config.profiles, where="printers.side")
    assert (front.name, front.double_byte, front.columns) == ("shop-58", "gb18030", 32)
    assert back.double_byte == "big5"
    assert (side.columns, side.width_dots, side.columns_b) == (48, 576, 64)


@pytest.mark.parametrize(("toml", "where"), [
    ('[printers.front.profile_overrides]\ndouble_byte = "utf8"\n',
     "printers.front.profile_overrides.double_byte"),
    ('[printers.front.profile_overrides]\ncolour = true\n',
     "printers.front.profile_overrides.colour"),
    ('[printers.front]\nprofile = "nope"\n', "printers.front.profile"),
    ('[printers.front]\nprofile = "mine"\n[profiles.mine]\ndouble_byte = "big5"\n',
     "profiles.mine.base"),
    ('[printers.front]\nprofile = "mine"\n[profiles.mine]\nbase = "TM-T88V"\ncolumns = 3\n',
     "profiles.mine.columns"),
])
def test_bad_profile_config_names_the_key(tmp_path: Path, toml: str, where: str) -> None:
    path = tmp_path / "receiptd.toml"
    path.write_text('[printers.front]\nurl = "tcp://127.0.0.1:9100"\n' + toml
                    if not toml.startswith("[printers.front]\n") else
                    toml.replace("[printers.front]\n",
                                 '[printers.front]\nurl = "tcp://127.0.0.1:9100"\n', 1))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert where in str(exc.value)

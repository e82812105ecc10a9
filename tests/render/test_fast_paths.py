"""The render's fast paths give what its general paths give, on the strings where they could
part: ASCII control characters, DEL, text that fits exactly or by one column too many,
characters a code page lacks, wide and zero-width ones. And the bytes python-escpos is no
longer asked for each time are the bytes it gives."""

from __future__ import annotations

import itertools
import random
import string

import pytest
import qrcode.util  # type: ignore[import-untyped]

from receiptd.document import RowBlock, RuleBlock, parse_content
from receiptd.render import text as text_module
from receiptd.render.codes import _QR_OPTIMIZE, _qr_segments
from receiptd.render.escpos import Dummy, constants
from receiptd.render.items import (
    BarcodeItem,
    CutItem,
    DrawerItem,
    FeedItem,
    Item,
    QrItem,
    Style,
    TextLine,
)
from receiptd.render.layout import (
    _line,
    _row_lines,
    _row_lines_general,
    _rule_line,
    _rule_line_general,
)
from receiptd.render.paper import _item_mm, items_paper_mm
from receiptd.render.profiles import Profile, get_profile
from receiptd.render.text import charset_of, wrap
from receiptd.render.writer import Writer, qr_native

T88 = get_profile("TM-T88V")
PROFILES = [
    T88,
    get_profile("TM-P20"),  # 32 columns
    get_profile("TM-T88V", {"columns": 20}),
    get_profile("TM-T88V", {"double_byte": "gb18030"}),
    get_profile("TM-T88V", {"encoding": "CP1252", "double_byte": "shift_jis"}),
    get_profile("TM-U220"),
]

CONTROL = "".join(map(chr, range(0x20))) + "\x7f"
SAMPLES = [
    "", " ", "A", "Espresso", "  spaced  out  ", "x" * 19, "x" * 20, "x" * 21, "x" * 41,
    "x" * 42, "x" * 43, "word " * 12, "a\tb", "a\nb", "a\r\nb", "del\x7f", "nul\x00",
    "esc\x1b@", "\x10\x14\x01", CONTROL, "café", "Grüße €5", "£", "\u00a0nbsp", "soft\u00adhy",
    "Ελληνικά", "Русский", "收银小票合计", "ありがとう", "감사합니다", "ｶﾀｶﾅ", "😀 ok",
    "e\u0301", "zero\u200bwidth", "\u2028", "收" * 25,
]


def strings(seed: str, count: int) -> list[str]:
    """ASCII with and without control characters, and some that is not ASCII, at lengths
    around the columns of the profiles above."""
    rng = random.Random(seed)
    alphabets = [string.printable[:95], string.printable, CONTROL + "ab ",
                 string.ascii_letters + " " * 5, "abc é€收😀\u200b "]
    out = list(SAMPLES)
    for _ in range(count):
        alphabet = rng.choice(alphabets)
        out.append("".join(rng.choices(alphabet, k=rng.choice(
            [0, 1, 2, 7, 19, 20, 21, 31, 32, 33, 41, 42, 43, 60, 90]))))
    return out


def test_wrap_fast_path_is_the_general_wrap() -> None:
    for text, width in itertools.product(strings("wrap", 300), [-1, 0, 1, 2, 3, 10, 20, 42]):
        expected = text_module._wrap(text, max(width, 2))
        assert wrap(text, width) == expected, (text, width)


def test_ascii_lines_need_no_raster_and_stay_text() -> None:
    for profile in PROFILES:
        charset = charset_of(profile)
        for text in strings("line", 200):
            style = Style(bold=True)
            assert _line(text, style, charset) == TextLine(
                text, style, charset.needs_raster(text)), (profile.name, text)


def _general_row(block: RowBlock, profile: Profile) -> list[TextLine] | str:
    try:
        return _row_lines_general(block, Style(bold=block.bold), profile.columns,
                                  charset_of(profile))
    except Exception as exc:
        return repr(exc)


def _row(block: RowBlock, profile: Profile) -> list[TextLine] | str:
    try:
        return _row_lines(block, profile, charset_of(profile))
    except Exception as exc:
        return repr(exc)


def test_row_fast_path_is_the_general_row() -> None:
    rng = random.Random("rows")
    lefts = strings("left", 120)
    rights = ["", "1", "2.50", "65.00", "1,234.56 EUR", "x" * 9, "x" * 10, "x" * 13,
              "x" * 14, "x" * 20, "x" * 24, "x" * 25, "x" * 34, "x" * 35, "x" * 41, "x" * 42,
              "€3", "a\tb", "\x7f", "収 1"]
    for profile in PROFILES:
        for left in lefts:
            for right in rng.sample(rights, 6):
                block = RowBlock(left=left, right=right, bold=rng.random() < 0.5)
                assert _row(block, profile) == _general_row(block, profile), (
                    profile.name, left, right)


def test_rule_fast_path_is_the_general_rule() -> None:
    chars = [*string.printable[:95], "€", "é", "收", "😀", "═"]
    for profile in PROFILES:
        charset = charset_of(profile)
        for char in chars:
            block = RuleBlock(char=char)
            try:
                expected: TextLine | str = _rule_line_general(block, profile, charset)
            except Exception as exc:
                expected = repr(exc)
            try:
                got: TextLine | str = _rule_line(block, profile, charset)
            except Exception as exc:
                got = repr(exc)
            assert got == expected, (profile.name, char)


def test_qr_segments_are_qrcodes_chunks() -> None:
    rng = random.Random("qr-segments")
    alnum = qrcode.util.ALPHA_NUM.decode()
    alphabets = [string.digits, alnum, alnum + "abc", string.ascii_lowercase + "/:.",
                 string.printable, "é收😀" + string.digits]
    samples = ["1", "12345678901234567890", "123456789012345678901", "ABC\n", "123\n",
               "A" * 19 + "a", "A" * 20 + "a", "a" + "A" * 20, "https://luna.example/r/BXp1",
               "HTTPS://LUNA.EXAMPLE/R/BXP1", "a" * 21, "\n" * 21, "9" * 19 + "\n"]
    for _ in range(400):
        runs = [
            "".join(rng.choices(rng.choice(alphabets), k=rng.choice([1, 5, 19, 20, 21, 40])))
            for _ in range(rng.randint(1, 5))]
        samples.append("".join(runs))
    for data in samples:
        raw = data.encode("utf-8")
        chunks = qrcode.util.optimal_data_chunks(raw, minimum=_QR_OPTIMIZE)
        assert _qr_segments(raw) == [(c.mode, len(c)) for c in chunks], data


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_style_changes_are_python_escpos_set(profile: Profile) -> None:
    styles = [Style(align, bold, underline, font, size)
              for align in ("left", "center", "right") for bold in (False, True)
              for underline in (0, 1, 2) for font in ("a", "b")
              for size in ((1, 1), (2, 2), (8, 1))]
    if not charset_of(profile).has_font_b:
        styles = [s for s in styles if s.font == "a"]
    rng = random.Random(profile.name)
    for cur, new in [*itertools.pairwise(styles),
                     *((rng.choice(styles), rng.choice(styles)) for _ in range(300))]:
        writer = Writer(profile)
        writer.style = cur
        writer.set_style(new)
        dummy = Dummy(profile=profile.escpos_profile)
        change: dict[str, object] = {}
        if new.size != cur.size:
            change.update(custom_size=True, width=new.size[0], height=new.size[1])
        for name in ("bold", "underline", "font", "align"):
            if getattr(new, name) != getattr(cur, name):
                change[name] = getattr(new, name)
        if change:
            dummy.set(**change)
        assert b"".join(writer._out) == dummy.output, (cur, new)


def test_native_qr_is_python_escpos_qr() -> None:
    rng = random.Random("native-qr")
    data = ["1", "https://luna.example/r/BXp0000001", "é收😀", "tab\tand\nnewline",
            "x" * 255, "x" * 256, "y" * 4096, "收" * 4096]
    data += ["".join(rng.choices(string.printable, k=rng.randint(1, 3000))) for _ in range(20)]
    for text in data:
        for ec in "LMQH":
            for size in (1, 6, 16):
                dummy = Dummy(profile="TM-T88V")
                dummy.qr(text, ec=getattr(constants, f"QR_ECLEVEL_{ec}"), size=size,
                         native=True)
                assert qr_native(text, ec, size) == dummy.output, (text[:20], ec, size)


@pytest.mark.parametrize("profile", [*PROFILES, get_profile("POS-5890")], ids=lambda p: p.name)
def test_feeds_cuts_and_kicks_are_python_escpos(profile: Profile) -> None:
    for item, call in [
        *((FeedItem(n), lambda d, n=n: d.print_and_feed(n)) for n in (1, 6, 255)),
        (CutItem(False), lambda d: d.cut(mode="FULL") if profile.cutter
         else d.print_and_feed(6)),
        (CutItem(True), lambda d: d.cut(mode="PART") if profile.cutter
         else d.print_and_feed(6)),
        (DrawerItem(2), lambda d: d.cashdraw(2)),
        (DrawerItem(5), lambda d: d.cashdraw(5)),
    ]:
        writer = Writer(profile)
        writer.item(item)
        dummy = Dummy(profile=profile.escpos_profile)
        call(dummy)
        assert b"".join(writer._out) == dummy.output, (profile.name, item)


def test_paper_of_items_is_the_sum_of_each_items_paper() -> None:
    items: list[Item] = [
        TextLine("a", Style()), TextLine("b", Style(size=(3, 7))), FeedItem(3), CutItem(True),
        QrItem("x", "M", 6, 21, "center"), DrawerItem(2),
        BarcodeItem("CODE128", "1", "1", "{B1", "1" * 40, 80, 2, "both", "left"),
    ] * 7
    for profile in PROFILES:
        expected = sum(_item_mm(i, profile) for i in items)
        assert items_paper_mm(items, parse_content({"text": "x"}), profile) == expected

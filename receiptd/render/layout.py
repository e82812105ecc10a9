"""A receipt as printed items: the one layout behind the printer bytes, the previews and the
paper estimates, so that what is previewed and estimated is what prints.

Text is cleaned, made printable on this printer and wrapped to its columns (``text``); rows
fill the line exactly; barcodes and QR codes are checked and fitted (``codes``); images are
scaled to the paper and made 1-bit (``raster``).
"""

from __future__ import annotations

from typing import Any

from receiptd.document import (
    BarcodeBlock,
    Content,
    CutBlock,
    DrawerBlock,
    FeedBlock,
    ImageBlock,
    QrBlock,
    RowBlock,
    RuleBlock,
    TextBlock,
)
from receiptd.errors import InvalidDocument
from receiptd.render.codes import bars, qr_fit
from receiptd.render.items import (
    DEFAULT_STYLE,
    BarcodeItem,
    CutItem,
    DrawerItem,
    FeedItem,
    ImageItem,
    Item,
    QrItem,
    Style,
    TextLine,
)
from receiptd.render.profiles import Profile
from receiptd.render.raster import to_bitmap
from receiptd.render.text import (
    Charset,
    charset_of,
    clean_text,
    substitute_unprintable,
    text_width,
    wrap,
)

__all__ = ["layout", "marker_lines"]


# One object per style: the writer sees a row in the style of the line before it at once.
_ROW_STYLES = {False: DEFAULT_STYLE, True: Style(bold=True)}


def _plain(text: str) -> bool:
    """True for printable ASCII: ``clean_text`` and ``Charset.printable`` keep it as it is,
    every character is one column and the printer prints it itself (no raster)."""
    return text.isascii() and text.isprintable()


def _columns(profile: Profile, style: Style) -> int:
    base = profile.columns if style.font == "a" else profile.columns_b
    return max(base // style.size[0], 1)


def _line(text: str, style: Style, charset: Charset) -> TextLine:
    return TextLine(text, style, charset.needs_raster(text))


def _text_lines(text: str, style: Style, profile: Profile, charset: Charset) -> list[TextLine]:
    printable = charset.printable(clean_text(text, multiline=True))
    return [_line(line, style, charset) for line in wrap(printable, _columns(profile, style))]


def _row_lines(block: RowBlock, profile: Profile, charset: Charset) -> list[TextLine]:
    style = _ROW_STYLES[block.bold]
    cols = profile.columns
    left, right = block.left, block.right
    if _plain(left) and _plain(right):
        # The common row, without the general path's cleaning and measuring: both texts fit
        # on one line, so ``wrap`` would give ``left`` back whole.
        rw = len(right)
        if rw <= cols - min(8, cols // 3) and len(left) <= cols - rw - (1 if rw else 0):
            return [TextLine(left + " " * (cols - len(left) - rw) + right, style)]
    return _row_lines_general(block, style, cols, charset)


def _row_lines_general(
    block: RowBlock, style: Style, cols: int, charset: Charset
) -> list[TextLine]:
    left = charset.printable(clean_text(block.left))
    right = charset.printable(clean_text(block.right))
    rw = text_width(right)
    if rw > cols - min(8, cols // 3):
        # The right text would squeeze the left out: left on its own lines, right below.
        lines = [*wrap(left, cols)] if left else []
        lines += [" " * (cols - text_width(r)) + r for r in wrap(right, cols)]
        return [_line(line, style, charset) for line in lines]
    room = cols - rw - (1 if rw else 0)
    left_lines = wrap(left, room) if left else [""]
    out = []
    for i, line in enumerate(left_lines):
        if i == 0:
            line = line + " " * (cols - text_width(line) - rw) + right
        out.append(_line(line, style, charset))
    return out


def _rule_line(block: RuleBlock, profile: Profile, charset: Charset) -> TextLine:
    if _plain(block.char):  # one column: the line is that character across
        return TextLine(block.char * profile.columns, DEFAULT_STYLE)
    return _rule_line_general(block, profile, charset)


def _rule_line_general(block: RuleBlock, profile: Profile, charset: Charset) -> TextLine:
    char = charset.printable(clean_text(block.char)) or "?"
    width = max(text_width(char), 1)
    line = char * (profile.columns // width)
    return _line(line + " " * (profile.columns - text_width(line)), DEFAULT_STYLE, charset)

def _barcode_item(block: BarcodeBlock, profile: Profile) -> BarcodeItem:
    checked = bars(block, profile)
    return BarcodeItem(
        symbology=block.symbology, data=block.data, hri_text=checked.hri_text,
        printer_data=checked.printer_data, modules=checked.modules, height=block.height,
        width=block.width, hri=block.hri, align=block.align,
    )


def _qr_item(block: QrBlock, profile: Profile) -> QrItem:
    modules, size = qr_fit(block, profile)
    return QrItem(block.data, block.ec, size, modules, block.align)


def _block_items(block: Any, profile: Profile, charset: Charset) -> list[Item]:
    if isinstance(block, RowBlock):  # most of a receipt: asked first
        return list(_row_lines(block, profile, charset))
    if isinstance(block, TextBlock):
        font = block.font if charset.has_font_b else "a"
        style = Style(block.align, block.bold, block.underline, font, block.scale)
        return list(_text_lines(block.text, style, profile, charset))
    if isinstance(block, RuleBlock):
        return [_rule_line(block, profile, charset)]
    if isinstance(block, BarcodeBlock):
        return [_barcode_item(block, profile)]
    if isinstance(block, QrBlock):
        return [_qr_item(block, profile)]
    if isinstance(block, ImageBlock):
        return [ImageItem(to_bitmap(block.image, profile.width_dots), block.align)]
    if isinstance(block, FeedBlock):
        return [FeedItem(block.lines)]
    if isinstance(block, CutBlock):
        return [CutItem(block.partial)]
    if isinstance(block, DrawerBlock):
        return [DrawerItem(block.pin)]
    raise InvalidDocument(f"cannot render a {type(block).__name__}")  # pragma: no cover


def layout(content: Content, profile: Profile) -> list[Item] | None:
    """The receipt as printed items; ``None`` for raw content (it is sent as is).

    Plain text is printed left-aligned, wrapped, and followed by a cut. Raises
    ``InvalidDocument`` if something cannot be printed on this printer.
    """
    charset = charset_of(profile)
    if content.document is not None:
        items: list[Item] = []
        for block in content.document.blocks:
            items.extend(_block_items(block, profile, charset))
        return items
    if content.text is not None:
        return [*_text_lines(content.text, DEFAULT_STYLE, profile, charset), CutItem(False)]
    return None


def marker_lines(marker: str, profile: Profile) -> list[TextLine]:
    """The marker section's lines: a rule of ``=``, the marker centred in bold, a rule."""
    style = Style(align="center", bold=True)
    charset = charset_of(profile)
    with substitute_unprintable():  # receiptd's own words, rendered at print time too
        text = charset.printable(clean_text(marker, multiline=True))
    rule = TextLine("=" * profile.columns, style)
    return [rule, *(_line(t, style, charset) for t in wrap(text, profile.columns)), rule]

"""How much paper a receipt takes, estimated from its layout: for the printing deadline
(paper length over the slowest print speed) and for the paper counters.

A marker's share is its lines alone (``marker_paper_mm``), so a marked reprint's estimate is
the journaled estimate plus the marker's, without the document.
"""

from __future__ import annotations

from receiptd.document import Content
from receiptd.render.items import (
    CUT_FEED_LINES,
    BarcodeItem,
    CutItem,
    FeedItem,
    ImageItem,
    Item,
    QrItem,
    TextLine,
)
from receiptd.render.layout import layout, marker_lines
from receiptd.render.profiles import Profile

__all__ = ["marker_paper_mm", "paper_length_mm"]

HRI_DOTS = 30  # one line of HRI characters below/above a barcode


def _item_mm(item: Item, profile: Profile) -> float:
    dpmm, line = profile.dots_per_mm, profile.line_mm
    if isinstance(item, TextLine):
        return line * item.style.size[1]
    if isinstance(item, BarcodeItem):
        hri = {"none": 0, "above": 1, "below": 1, "both": 2}[item.hri]
        return item.height / dpmm + hri * HRI_DOTS / dpmm
    if isinstance(item, QrItem):
        return (item.modules + 4) * item.size / dpmm
    if isinstance(item, ImageItem):
        return item.bitmap.height / dpmm
    if isinstance(item, FeedItem):
        return item.lines * line
    if isinstance(item, CutItem):
        return CUT_FEED_LINES * line
    return 0.0


def marker_paper_mm(marker: str | None, profile: Profile) -> float:
    """The paper a marker section takes, in mm (0 for ``None``): its lines × line height."""
    if marker is None:
        return 0.0
    return len(marker_lines(marker, profile)) * profile.line_mm


def paper_length_mm(content: Content, profile: Profile, *, marker: str | None = None) -> float:
    """Estimated paper used, in mm: text lines × line height (× character height), barcode,
    QR and image heights, feeds, and the feed before a cut. Raw content: LF count × line
    height (a rough floor). A marker adds exactly ``marker_paper_mm(marker, profile)``."""
    items = layout(content, profile)
    if items is None:
        body = max(content.raw_bytes().count(b"\n"), 1) * profile.line_mm
    else:
        body = sum(_item_mm(i, profile) for i in items)
    return marker_paper_mm(marker, profile) + body

"""The paper path: how long things are on paper, how long printing them takes, what was used.

A text line is the line spacing (or the character height, if taller) at 8 dots/mm, a cut feeds
3 mm; time is length / speed. ``Paper`` keeps the print head's clock (when the command in hand
will be finished), the millimetres passed and the maintenance counters that ``GS g`` reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from receiptd.emulator.mode import PrintMode

DOTS_PER_MM = 8.0
CUT_FEED_MM = 3.0

# Byte capacity of QR versions 1-10 at ECC level L (binary mode).
_QR_CAPACITY = (17, 32, 53, 78, 106, 134, 154, 192, 230, 271)


def line_mm(mode: PrintMode) -> float:
    """Paper one text line takes."""
    char_h = 17 if mode.font_b else 24
    return max(mode.line_spacing, char_h * mode.height) / DOTS_PER_MM


def line_columns(mode: PrintMode, columns: int) -> int:
    """Characters that fit on a line: ``columns`` of font A, less the margin, in this size."""
    char_w = 9 if mode.font_b else 12
    total = columns * 12
    area = mode.area_width or total
    area = min(area, total - min(mode.left_margin, total - char_w))
    return max(1, area // (char_w * mode.width))


def qr_modules(n: int) -> int:
    """Symbol width in modules including the quiet zone (an estimate, for paper length)."""
    version = next((v for v, cap in enumerate(_QR_CAPACITY, 1) if cap >= n),
                   10 + math.ceil((n - 271) / 40))
    return 21 + 4 * (version - 1) + 8


@dataclass
class Counters:
    feed_dots: int = 0
    head_rows: int = 0
    cuts: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"feed_lines": self.feed_dots // 30, "head_energizing": self.head_rows,
                "cuts": self.cuts}


class Paper:
    def __init__(self, now: float) -> None:
        self.head = now  # when the print head is done with what it has printed so far
        self.started = now  # last power on: the start of GS g counter 70 (hours)
        self.printed_mm = 0.0
        self.counters = Counters()  # resettable, and reset at power on
        self.cumulative = Counters()

    def print_for(self, mm: float, speed: float, now: float) -> bool:
        """Print ``mm`` of paper if the head gets it done by ``now``; False: still printing."""
        if self.head + mm / speed > now + 1e-9:
            return False
        self.head += mm / speed
        return True

    def passed(self, mm: float) -> None:
        """``mm`` of paper went through (counted as feed in dots)."""
        self.printed_mm += mm
        dots = round(mm * DOTS_PER_MM)
        self.counters.feed_dots += dots
        self.cumulative.feed_dots += dots

    def energized(self, rows: int) -> None:
        """The head drew ``rows`` dot rows."""
        self.counters.head_rows += rows
        self.cumulative.head_rows += rows

    def cut(self) -> None:
        self.counters.cuts += 1
        self.cumulative.cuts += 1

    def power_on(self, now: float) -> None:
        self.head = now
        self.started = now
        self.counters = Counters()

    def counter(self, n: int) -> int | None:
        """GS g 2 counter n: 20 feed lines, 21 head energizing, 50 cuts, 70 hours; +128 total."""
        c = self.cumulative if n >= 128 else self.counters
        base = n - 128 if n >= 128 else n
        hours = int((self.head - self.started) // 3600)
        values = {20: c.feed_dots // 30, 21: c.head_rows, 50: c.cuts, 70: hours}
        return values.get(base)

    def reset_counter(self, n: int) -> None:
        """GS g 0: reset one of the resettable counters."""
        if n == 20:
            self.counters.feed_dots = 0
        elif n == 21:
            self.counters.head_rows = 0
        elif n == 50:
            self.counters.cuts = 0

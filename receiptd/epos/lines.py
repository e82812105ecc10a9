"""Text as ePOS-Print prints it: runs of characters that run on until a line feed, each in
the style the ``<text>`` state had when it came, gathered into the document model's lines.

The document model styles whole paragraphs, so a line printed in several styles takes the
style of its first visible run (the label of a "Total ... 12.00" line, whose width the app
counted on), and the alignment in force when the line began (ESC/POS applies alignment only
at the start of a line). Consecutive lines in one style become one text block; blank lines
become feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from receiptd.document.limits import MAX_FIELD_CHARS

#: Character cell width in dots of fonts A and B on Epson's 180/203 dpi heads, to turn an
#: absolute ``x`` position into a column.
FONT_DOTS = {"a": 12, "b": 9}


@dataclass(frozen=True)
class Style:
    align: str = "left"
    width: int = 1
    height: int = 1
    bold: bool = False
    underline: bool = False
    font: str = "a"


class LineBuilder:
    """Collects runs into lines, and lines (and everything else) into blocks (JSON-like dicts
    of the document model)."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self._runs: list[tuple[str, Style]] = []
        self._align = "left"

    @property
    def column(self) -> int:
        return sum(len(text) for text, _ in self._runs)

    def write(self, text: str, style: Style) -> None:
        """Text as a ``<text>`` element holds it: LF ends a line."""
        first, *rest = text.replace("\r", "").split("\n")
        self._run(first, style)
        for part in rest:
            self.newline()
            self._run(part, style)

    def move_to(self, dots: int, style: Style) -> None:
        """``<text x="…"/>``: continue the line at that position (padded with spaces)."""
        column = dots // (FONT_DOTS[style.font] * style.width)
        if column > self.column:
            self._run(" " * (column - self.column), style)

    def _run(self, text: str, style: Style) -> None:
        if not text:
            return
        if not self._runs:
            self._align = style.align
        self._runs.append((text, style))

    def newline(self) -> None:
        """End the line (a blank one if nothing is on it)."""
        if not self._emit():
            self.feed(1)

    def flush(self) -> bool:
        """Print what is on the line, if anything (what ESC/POS does before a feed, an image,
        a cut). True when a line was printed."""
        return self._emit()

    def _emit(self) -> bool:
        if not self._runs:
            return False
        text = "".join(t for t, _ in self._runs)
        visible = [s for t, s in self._runs if t.strip()]
        self._runs = []
        if not visible:
            self.feed(1)
            return True
        style = visible[0]
        self._text(text.rstrip(), Style(self._align, style.width, style.height, style.bold,
                                        style.underline, style.font))
        return True

    def _text(self, text: str, style: Style) -> None:
        last = self.blocks[-1] if self.blocks else None
        if last is not None and last.get("_style") == style and \
                len(last["text"]) + 1 + len(text) <= MAX_FIELD_CHARS:
            last["text"] += "\n" + text
            return
        while text:
            chunk, text = text[:MAX_FIELD_CHARS], text[MAX_FIELD_CHARS:]
            self.blocks.append({
                "type": "text", "text": chunk, "align": style.align, "bold": style.bold,
                "underline": 1 if style.underline else 0, "size": [style.width, style.height],
                "font": style.font, "_style": style,
            })

    def feed(self, lines: int) -> None:
        while lines > 0:
            last = self.blocks[-1] if self.blocks else None
            if last is not None and last["type"] == "feed" and last["lines"] < 255:
                add = min(lines, 255 - last["lines"])
                last["lines"] += add
            else:
                add = min(lines, 255)
                self.blocks.append({"type": "feed", "lines": add})
            lines -= add

    def add(self, block: dict[str, Any]) -> None:
        """Any other block: the line so far is printed first."""
        self.flush()
        self.blocks.append(block)

    def finish(self) -> list[dict[str, Any]]:
        """The blocks, the last line printed (an ePOS document's end prints its buffer)."""
        self.flush()
        return [{k: v for k, v in b.items() if k != "_style"} for b in self.blocks]

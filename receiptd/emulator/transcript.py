"""What came out on paper.

A transcript is a list of slips; a slip is the list of entries between two cuts. A new slip also
starts after a paper reload or a power cycle (the partial receipt stays on the old roll). Entries
are plain JSON-able dicts so that tests, the control port and the CLI all see the same thing::

    {"type": "text", "text": "TOTAL 3.00", "align": "left", "bold": False,
     "underline": 0, "size": [1, 1]}
    {"type": "barcode", "symbology": "CODE128", "data": "12345"}
    {"type": "qr", "data": "https://example.com"}
    {"type": "image", "width": 384, "height": 120}
    {"type": "cut", "partial": False}
    {"type": "drawer", "pin": 2}
    {"type": "event", "event": "paper_out"}
    {"type": "unknown", "bytes": "1B 99"}
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Callable
from typing import Any

Entry = dict[str, Any]
Listener = Callable[[Entry], None]


def display_width(text: str) -> int:
    """Columns a string takes on paper: CJK wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class Transcript:
    def __init__(self, columns: int = 42) -> None:
        self.columns = columns
        self._slips: list[list[Entry]] = [[]]
        self._listeners: list[Listener] = []

    # -- writing (the model) ---------------------------------------------------------------

    def add(self, entry: Entry) -> None:
        self._slips[-1].append(entry)
        for listener in list(self._listeners):
            listener(entry)

    def event(self, name: str, **detail: Any) -> None:
        self.add({"type": "event", "event": name, **detail})

    def new_slip(self) -> None:
        if self._slips[-1]:
            self._slips.append([])

    def last(self) -> Entry | None:
        return self._slips[-1][-1] if self._slips[-1] else None

    def clear(self) -> None:
        self._slips = [[]]

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(entry)`` for each entry as it is printed (from the emulator's thread)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- reading (tests, control port) -----------------------------------------------------

    def copy(self) -> Transcript:
        other = Transcript(self.columns)
        other._slips = copy.deepcopy(self._slips)
        return other

    def slips(self) -> list[list[Entry]]:
        """The non-empty slips, oldest first (copies)."""
        return [copy.deepcopy(s) for s in self._slips if s]

    def entries(self) -> list[Entry]:
        return [e for s in self.slips() for e in s]

    def texts(self) -> list[str]:
        """Just the printed text lines, unaligned."""
        return [e["text"] for e in self.entries() if e["type"] == "text"]

    def events(self) -> list[str]:
        return [e["event"] for e in self.entries() if e["type"] == "event"]

    def text(self) -> str:
        """Readable rendering, one line per entry."""
        return "".join(self.render(e) + "\n" for e in self.entries())

    def render(self, entry: Entry) -> str:
        return render_entry(entry, self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "slips": self.slips()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        t = cls(int(data.get("columns", 42)))
        t._slips = [list(s) for s in data.get("slips", [])] + [[]]
        return t

    def __len__(self) -> int:
        return sum(len(s) for s in self._slips)


def render_entry(entry: Entry, columns: int = 42) -> str:
    kind = entry.get("type")
    if kind == "text":
        text = str(entry["text"])
        width = max(1, columns // int(entry.get("size", [1, 1])[0]))
        pad = width - display_width(text)
        if pad > 0 and entry.get("align") == "center":
            text = " " * (pad // 2) + text
        elif pad > 0 and entry.get("align") == "right":
            text = " " * pad + text
        return text.rstrip()
    if kind == "barcode":
        return f"[BARCODE {entry['symbology']} {entry['data']}]"
    if kind == "qr":
        return f"[QR {entry['data']}]"
    if kind == "image":
        return f"[IMAGE {entry['width']}x{entry['height']}]"
    if kind == "cut":
        return "[PARTIAL CUT]" if entry.get("partial") else "[CUT]"
    if kind == "drawer":
        return "[DRAWER]"
    if kind == "event":
        return "[" + str(entry["event"]).replace("_", " ").upper() + "]"
    if kind == "unknown":
        return f"[UNKNOWN {entry['bytes']}]"
    return f"[{str(kind).upper()}]"

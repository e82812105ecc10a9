"""Reading a torture run's paper back: which receipt came out whole, how often unmarked.

The emulated printer's transcript is read as one stream. A ``RECEIPT <tag>`` line opens a
receipt (marked if a ``COPY`` or ``*** REPRINT`` line came just before it); the matching
``TOTAL ... <tag>`` line closes it whole. Anything that may have cut a receipt short in
between breaks it: a printer event (paper out, power off, buffer cleared, cover open, ...) or a
new slip that did not start with a cut (a reload or a power cycle). Cuts, barcodes, images
and the like inside a receipt do not (raw receipts may hold them), nor do the events that
leave the paper alone (bytes the printer sent back, a speed change).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MARKER = re.compile(r"^\s*(COPY \d+ - original|\*\*\* REPRINT)")
TAG = re.compile(r"RECEIPT ([TH]\d+)")
#: Events that do not touch the paper.
HARMLESS_EVENTS = frozenset({"garbage", "slow", "fast"})


@dataclass
class Paper:
    unmarked: Counter[str] = field(default_factory=Counter)  # tag lines without a marker
    whole: Counter[str] = field(default_factory=Counter)  # copies from tag line to TOTAL
    marked: int = 0  # tag lines under a marker
    # What came just before each unmarked tag line (to tell how a duplicate came about).
    before: dict[str, list[list[str]]] = field(default_factory=dict)


def brief(entry: dict[str, Any]) -> str:
    kind = str(entry.get("type"))
    if kind == "text":
        return str(entry["text"]).strip()[:48]
    if kind == "event":
        return f"[{entry.get('event')}]"
    return f"[{kind}]"


def read(slips: list[list[dict[str, Any]]]) -> Paper:
    paper = Paper()
    current: str | None = None
    marker = False
    after_cut = True
    recent: list[str] = []
    for slip in slips:
        if not after_cut:
            current, marker = None, False
        after_cut = False
        recent.append("[new slip]")
        for entry in slip:
            recent = [*recent[-7:], brief(entry)]
            kind = entry.get("type")
            after_cut = kind == "cut"
            if kind == "event" and entry.get("event") not in HARMLESS_EVENTS:
                current, marker = None, False
            if kind != "text":
                continue
            text = entry["text"]
            if MARKER.match(text):
                marker = True
                continue
            m = TAG.search(text)
            if m:
                current = m.group(1)
                if marker:
                    paper.marked += 1
                else:
                    paper.unmarked[current] += 1
                    paper.before.setdefault(current, []).append(recent[:-1])
                marker = False
            elif current and text.startswith("TOTAL") and text.rstrip().endswith(current):
                paper.whole[current] += 1
                current = None
    return paper

"""What the tills of a torture run submit: short till receipts, long ones (150-250 lines, about
9 KB: several seconds of paper at 250 mm/s, so faults and kills land inside them) and raw
ESC/POS receipts whose body comes from the raw fuzzer's corpus (``bench/raw_fuzz.py
--corpus``: inputs the filter accepted, one hex line each).

Every receipt starts with a ``RECEIPT <tag>`` line and ends with a ``TOTAL ... <tag>`` line, so
that the paper can be read back (``receiptd.testing.torture_paper``). A corpus body may leave
the printer in any mode the filter allows (Kanji, double size, user characters, a cut in the
middle): the wrapper resets it with ``ESC @`` before the closing line, and a corpus line is
used only if, wrapped, the filter accepts it, its paper stays under ``CORPUS_MAX_MM`` and a
printer of its own prints both tag lines intact.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from receiptd.document.raw import check_raw
from receiptd.emulator.model import PrinterConfig, PrinterModel
from receiptd.errors import RawRejected
from receiptd.render import prologue
from receiptd.render.paper import raw_paper_mm
from receiptd.render.profiles import get_profile

#: The profile the torture daemon prints with (the configuration's default).
PROFILE = "TM-T88V"
#: A corpus body that feeds more paper than this is left out: it would be a long receipt.
CORPUS_MAX_MM = 400.0
LONG_LINES = (150, 250)
SHORT_LINES = (3, 20)


@dataclass(frozen=True)
class Submission:
    tag: str
    kind: str  # short, long, corpus
    body: dict[str, Any]  # the request body, without the idempotency key and order ref


def document(tag: str, lines: int) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": f"RECEIPT {tag}", "bold": True},
                                    {"type": "rule"}]
    blocks += [{"type": "row", "left": f"Item {i}", "right": f"{i}.00"} for i in range(lines)]
    blocks += [{"type": "row", "left": "TOTAL", "right": f"{tag}"}, {"type": "cut"}]
    return {"blocks": blocks}


def wrap_raw(tag: str, body: bytes) -> bytes:
    """A corpus body between the two tag lines; ``ESC @`` undoes whatever mode it left on."""
    return (f"RECEIPT {tag}\n".encode() + body + b"\n\x1b@" + f"TOTAL {tag}\n".encode()
            + b"\x1dV\x00")


def raw_body(raw: bytes) -> dict[str, Any]:
    return {"raw": base64.b64encode(raw).decode()}


def _prints_tags(raw: bytes, tag: str) -> bool:
    """Does a printer of its own print the tag lines of ``raw`` (after the daemon's
    prologue) as text?"""
    model = PrinterModel(PrinterConfig(speed_mm_s=100_000.0), now=0.0)
    data, now, idle = prologue(get_profile(PROFILE)) + raw, 0.0, 0
    while data and idle < 4:
        now += 60.0
        taken = model.feed(data, now)
        data = data[taken:]
        idle = 0 if taken else idle + 1
    for _ in range(8):
        now += 60.0
        model.advance(now)
    texts = [e["text"] for s in model.transcript.slips() for e in s if e.get("type") == "text"]
    return not data and f"RECEIPT {tag}" in texts and f"TOTAL {tag}" in texts


def usable(body: bytes) -> bool:
    """May this corpus body go into a torture receipt (see the module's docstring)?"""
    raw = wrap_raw("T99999", body)
    try:
        check_raw(raw)
    except RawRejected:
        return False
    if raw_paper_mm(raw, get_profile(PROFILE)) > CORPUS_MAX_MM:
        return False
    return _prints_tags(raw, "T99999")


def load_corpus(path: Path) -> tuple[list[bytes], int]:
    """The usable bodies of a corpus file (hex lines), and how many lines were left out."""
    bodies, skipped = [], 0
    for line in path.read_text().split():
        body = bytes.fromhex(line)
        if usable(body):
            bodies.append(body)
        else:
            skipped += 1
    return bodies, skipped


def plan(rng: random.Random, receipts: int, *, long_share: float = 0.0,
         corpus: list[bytes] | None = None, corpus_share: float = 0.0) -> list[Submission]:
    """``receipts`` submissions in a random order: ``long_share`` of them long and
    ``corpus_share`` raw from ``corpus`` (rounded, and at least one each when the share is
    above 0), the rest short."""
    def count(share: float) -> int:
        return max(1, round(receipts * share)) if share > 0 else 0

    n_long = count(long_share)
    n_corpus = count(corpus_share) if corpus else 0
    kinds = ["long"] * n_long + ["corpus"] * n_corpus
    kinds += ["short"] * max(0, receipts - len(kinds))
    kinds = kinds[:receipts]
    rng.shuffle(kinds)
    out = []
    for i, kind in enumerate(kinds):
        tag = f"T{i:05d}"
        if kind == "long":
            body = {"document": document(tag, rng.randint(*LONG_LINES))}
        elif kind == "corpus":
            assert corpus
            body = raw_body(wrap_raw(tag, rng.choice(corpus)))
        else:
            body = {"document": document(tag, rng.randint(*SHORT_LINES))}
        out.append(Submission(tag, kind, body))
    return out

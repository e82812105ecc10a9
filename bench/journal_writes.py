"""Bytes the journal writes to disk for one receipt over its life: accepted, sent, printed.

    python bench/journal_writes.py [--receipts 50] [--json]

Counted exactly, not sampled from the block layer: the WAL frames each transaction appends
(page + 24-byte frame header, measured as the WAL's growth from empty with automatic
checkpoints off) plus what the checkpoint then writes into the database file (each page once,
however many frames wrote it: the bytes it hands to write(2), from /proc/self/io). Two
receipts: a 1 KB till receipt (text, a QR code) and a 250 KB raw one. The floor for a receipt
is its own bytes once in the WAL and once in the database: 2 × its size.

Two figures per receipt: bytes handed to write(2), and 4 KiB filesystem blocks dirtied (what a
flash device rewrites at least: each commit's WAL frames rounded out to whole blocks, and the
distinct blocks the checkpoint writes into the database file). Both for the journal's own page
size and for SQLite's default 4 KiB, measured in the same run (``--page-sizes``).

Run it against another checkout (``PYTHONPATH=/path/to/old python bench/journal_writes.py``)
to compare versions on the same machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sqlite3
import statistics
import struct
import sys
import tempfile
from pathlib import Path

if "receiptd" not in sys.modules:
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from receiptd.journal import Journal
from receiptd.journal.db import PAGE_SIZE

BLOCK = 4096


def _content(kind: str, size: int) -> tuple[str, bytes]:
    rng = random.Random(size)
    if kind == "raw":
        raw = rng.randbytes(size)
        return json.dumps({"raw": base64.b64encode(raw).decode()}), b"\x1b@\x1bt\x10" + raw
    lines = [f"Item {i:02d} {'x' * 20} {rng.randrange(100, 999) / 100:6.2f}" for i in range(16)]
    text = "\n".join(lines)
    return json.dumps({"text": text}), (b"\x1b@" + text.encode() + b"\x1dV\x00") * 2


def _written() -> int:
    """Bytes this process has passed to write(2) and its kin (``wchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


class Meter:
    """WAL bytes appended and pages checkpointed, on one journal with autocheckpoint off."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.page = int(journal.conn.execute("PRAGMA page_size").fetchone()[0])
        journal.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.wal = Path(f"{journal.path}-wal")

    def reset(self) -> None:
        self.j.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def wal_bytes(self) -> int:
        return self.wal.stat().st_size if self.wal.exists() else 0

    def wal_pages(self) -> set[int]:
        """The database pages the WAL holds frames for (what a checkpoint copies)."""
        data = self.wal.read_bytes() if self.wal.exists() else b""
        frame = 24 + self.page
        return {struct.unpack_from(">I", data, off)[0]
                for off in range(32, len(data) - frame + 1, frame)}

    def checkpoint_blocks(self) -> int:
        return len({(page - 1) * self.page // BLOCK for page in self.wal_pages()})

    def checkpoint_bytes(self) -> int:
        # A page written by several frames is copied once: what the checkpoint hands to
        # write(2), read from /proc (this process writes nothing else meanwhile).
        before = _written()
        busy, frames, done = self.j.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and frames == done
        return _written() - before


def _blocks(start: int, end: int) -> int:
    """Filesystem blocks a write of bytes [start, end) of a file dirties."""
    return 0 if end <= start else (end - 1) // BLOCK - start // BLOCK + 1


def life(meter: Meter, content_json: str, rendered: bytes, n: int) -> dict[str, float]:
    j = meter.j
    accept, sent, printed, checkpoint, blocks = [], [], [], [], []
    for i in range(n):
        meter.reset()
        at = meter.wal_bytes()
        receipt, _ = j.receipts.submit(
            printer="front", kind="raw", content_json=content_json, rendered=rendered,
            profile="TM-T88V", request_hash=f"h{i}", idempotency_key=f"k{i}",
            order_ref=f"o{i}", submitted_by="pos", paper_mm=80.0)
        accept.append(meter.wal_bytes() - at)
        dirtied = _blocks(at, meter.wal_bytes())
        at = meter.wal_bytes()
        j.receipts.start_print(receipt.prints[0].id)
        sent.append(meter.wal_bytes() - at)
        dirtied += _blocks(at, meter.wal_bytes())
        at = meter.wal_bytes()
        j.receipts.finish_print(receipt.prints[0].id, confirmation="process_id")
        printed.append(meter.wal_bytes() - at)
        dirtied += _blocks(at, meter.wal_bytes()) + meter.checkpoint_blocks()
        checkpoint.append(meter.checkpoint_bytes())
        blocks.append(dirtied)
    size = len(rendered)
    totals = [a + s + p + c for a, s, p, c in zip(accept, sent, printed, checkpoint,
                                                  strict=True)]
    return {
        "receipt_bytes": size,
        "accept_wal": statistics.median(accept),
        "sent_wal": statistics.median(sent),
        "printed_wal": statistics.median(printed),
        "checkpoint": statistics.median(checkpoint),
        "total": statistics.median(totals),
        "total_p95": sorted(totals)[max(0, round(0.95 * len(totals)) - 1)],
        "ratio_to_size": round(statistics.median(totals) / size, 2),
        "blocks_4k": statistics.median(blocks),
    }


def measure(receipts: int = 50, page_sizes: tuple[int, ...] = (PAGE_SIZE, 4096),
            ) -> dict[str, dict[str, float]]:
    """Each receipt's life on a journal of each page size: ``"<name> @<page size>"`` →
    figures (``life``)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for page in dict.fromkeys(page_sizes):
            for name, kind, size in (("till_1k", "text", 1024), ("raw_250k", "raw", 250_000)):
                path = Path(tmp) / f"{name}-{page}.db"
                with sqlite3.connect(path) as pre:  # a page size fixed before the journal's
                    pre.execute(f"PRAGMA page_size={page}")
                    pre.execute("PRAGMA journal_mode=WAL")
                with Journal(path) as journal:
                    content_json, rendered = _content(kind, size)
                    out[f"{name} @{page}"] = life(Meter(journal), content_json, rendered,
                                                  receipts)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--receipts", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.add_argument("--page-sizes", default=f"{PAGE_SIZE},4096",
                   help="page sizes of the journals compared (the first: the journal's own)")
    a = p.parse_args()
    out = measure(a.receipts, tuple(int(x) for x in a.page_sizes.split(",")))
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for name, r in out.items():
            print(f"{name}: {r['receipt_bytes']} B receipt -> {r['total'] / 1024:.0f} KiB "
                  f"written (median; p95 {r['total_p95'] / 1024:.0f} KiB) = "
                  f"{r['ratio_to_size']}x; WAL accept {r['accept_wal'] / 1024:.0f} KiB, "
                  f"sent {r['sent_wal'] / 1024:.0f} KiB, printed {r['printed_wal'] / 1024:.0f}"
                  f" KiB, checkpoint {r['checkpoint'] / 1024:.0f} KiB; "
                  f"{r['blocks_4k']:.0f} blocks of 4 KiB dirtied")
    return 0


if __name__ == "__main__":
    sys.exit(main())

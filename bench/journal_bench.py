"""Journal latency at scale: a filled journal against an empty one, measured in the same run.

    python bench/journal_bench.py --n 1000000 [--submits 500] [--dir /var/tmp]

The fill uses executemany in large transactions (not the journal's API: it would take hours
at one fsync per receipt); the measurements use the real API, each submit a full durable
transaction (BEGIN IMMEDIATE … COMMIT with synchronous=FULL, WAL).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from receiptd.journal import Journal, format_ts

PRINTERS = ("front", "back", "bar", "kitchen")
CONTENT = json.dumps({"document": [
    {"type": "text", "text": "RECEIPTD CAFE", "align": "center", "bold": True},
    {"type": "row", "left": "Flat white", "right": "3.80"},
    {"type": "row", "left": "Croissant", "right": "2.90"},
    {"type": "rule"},
    {"type": "row", "left": "TOTAL", "right": "6.70"},
    {"type": "qr", "data": "https://example.invalid/r/000000000"},
    {"type": "cut"},
]})
RENDERED_SIZE = 1500  # bytes of ESC/POS for a text receipt with a QR code, roughly
BATCH = 50_000


def fill(path: Path, n: int) -> float:
    """N printed receipts (one printed original each), spread over 4 printers, over N seconds."""
    started = time.perf_counter()
    rendered = bytes(random.Random(1).randrange(256) for _ in range(RENDERED_SIZE))
    t0 = datetime.now(UTC) - timedelta(seconds=n + 10)
    with Journal(path) as j:
        conn = j.conn
        for base in range(0, n, BATCH):
            count = min(BATCH, n - base)
            receipts = []
            bodies = []
            prints = []
            for i in range(base + 1, base + count + 1):
                ts = format_ts(t0 + timedelta(seconds=i))
                printer = PRINTERS[i % len(PRINTERS)]
                receipts.append((i, printer, f"h{i}", f"key-{i}", f"order-{i}", ts, ts))
                bodies.append((i, CONTENT, rendered))
                prints.append((i, i, printer, ts, ts, ts))
            conn.execute("BEGIN")
            conn.executemany(
                """
                INSERT INTO receipts (id, printer, state, kind, profile, request_hash,
                                      idempotency_key, order_ref, submitted_by, created_at,
                                      printed_at, paper_mm)
                VALUES (?, ?, 'printed', 'document', 'TM-T88V', ?, ?, ?, 'pos', ?, ?, 120.0)
                """,
                receipts,
            )
            conn.executemany(
                "INSERT INTO receipt_bodies (receipt_id, content, rendered) VALUES (?, ?, ?)",
                bodies,
            )
            conn.executemany(
                """
                INSERT INTO prints (id, receipt_id, printer, kind, state, attempt, created_at,
                                    sent_at, finished_at, outcome, confirmation)
                VALUES (?, ?, ?, 'original', 'printed', 1, ?, ?, ?,
                        'confirmed by process id', 'process_id')
                """,
                prints,
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"median": statistics.median(ms), "p95": ms[int(len(ms) * 0.95) - 1]}


def measure(path: Path, n: int, submits: int) -> dict[str, object]:
    t = time.perf_counter()
    j = Journal(path)  # includes PRAGMA quick_check
    open_s = time.perf_counter() - t
    rng = random.Random(2)
    counter = iter(range(10**9))
    try:
        def submit() -> None:
            k = next(counter)
            j.receipts.submit(printer=PRINTERS[k % 4], kind="document", content_json=CONTENT,
                              rendered=os.urandom(RENDERED_SIZE), profile="TM-T88V",
                              request_hash=f"b{k}", idempotency_key=f"bench-{k}",
                              order_ref=f"bench-order-{k}", submitted_by="pos")

        def by_order() -> None:
            # an order that exists, one receipt each, in both journals
            ref = f"order-{rng.randrange(1, n)}" if n else f"bench-order-{rng.randrange(submits)}"
            assert len(j.search.receipts_for_order(ref)) == 1

        def page() -> None:
            j.search.find(printer="bar", limit=50,
                          before_id=rng.randrange(2, n + 2) if n else None)

        def window() -> None:
            # a cashier's search: one printer, a 10-minute window somewhere in the past
            start = datetime.now(UTC) - timedelta(seconds=rng.randrange(600, max(n, 600) + 600))
            j.search.find(printer="bar", since=start, until=start + timedelta(minutes=10))

        def wide_window() -> None:
            # worst case for a time search: everything since long ago (top-N sort of it all)
            j.search.find(printer="bar", since=datetime(2000, 1, 1, tzinfo=UTC))

        def next_print() -> None:
            j.receipts.next_print("front")

        def stats() -> None:
            j.search.queue_stats("front")

        results: dict[str, object] = {
            "open_s": round(open_s, 3),
            "submit": summary(timed(submit, submits)),
            "by_order_ref": summary(timed(by_order, 500)),
            "page_by_printer": summary(timed(page, 200)),
            "time_window": summary(timed(window, 200)),
            "wide_window": summary(timed(wide_window, 20)),
            "next_print": summary(timed(next_print, 500)),
            "queue_stats": summary(timed(stats, 500)),
        }
    finally:
        j.close()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="receipts in the filled journal")
    ap.add_argument("--submits", type=int, default=500)
    ap.add_argument("--dir", default=None, help="where to put the journals (default: a tempdir)")
    ap.add_argument("--keep", action="store_true", help="keep the journal files")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=args.dir))
    empty, full = work / "empty.db", work / "full.db"
    print(f"journals in {work}")
    fill_s = fill(full, args.n)
    size = full.stat().st_size
    print(f"filled {args.n:,} receipts in {fill_s:.1f}s: {size / 1e6:,.1f} MB, "
          f"{size / max(args.n, 1):,.0f} bytes/receipt "
          f"(content {len(CONTENT)} B + render {RENDERED_SIZE} B + rows and indexes)")
    Journal(empty).close()

    res_empty = measure(empty, 0, args.submits)
    res_full = measure(full, args.n, args.submits)
    print(f"open (incl. quick_check): empty {res_empty['open_s']}s, full {res_full['open_s']}s")
    print(f"{'ms':<18}{'empty med':>10}{'p95':>8}{'full med':>10}{'p95':>8}{'ratio med':>11}"
          f"{'ratio p95':>11}")
    keys = ("submit", "by_order_ref", "page_by_printer", "time_window", "wide_window",
            "next_print",
            "queue_stats")
    for key in keys:
        e, f = res_empty[key], res_full[key]
        assert isinstance(e, dict) and isinstance(f, dict)
        print(f"{key:<18}{e['median']:>10.3f}{e['p95']:>8.3f}{f['median']:>10.3f}"
              f"{f['p95']:>8.3f}{f['median'] / e['median']:>11.2f}{f['p95'] / e['p95']:>11.2f}")
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

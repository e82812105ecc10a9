"""The journal at scale, through the real API: a daemon on a journal of N receipts against the
same daemon on an empty journal, measured in the same run, reported as ratios.

    python bench/journal_scale.py --n 1000000 [--submits 300] [--lookups 500] [--dir /var/tmp]

Each side runs ``receiptd run`` as a subprocess with the emulated printer (in this process,
fast paper) and is driven over one kept-alive HTTP connection, like a POS app:

- submit: ``POST /v1/printers/front/receipts`` (journaled with synchronous=FULL, then 202);
- order lookup: ``GET /v1/orders/{ref}`` for an order that exists (the duplicate check);
- order search: ``GET /v1/receipts?order_ref=`` (the cashier's search);
- bytes per receipt: the journal's used pages / receipts, from ``GET /v1/journal/stats``.

The big journal is filled by ``bench/journal_bench.py``'s ``fill`` (bulk inserts; the API
would take hours at one fsync per receipt). Absolute numbers depend on the disk; the ratios
are the point: a full journal must not make the POS wait longer.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from journal_bench import fill  # the bulk filler of the journal benchmark, reused

from receiptd.emulator import Emulator
from receiptd.testing.loopback import free_port

TOKEN = "bench-admin-secret"
DOC = {"blocks": [
    {"type": "text", "text": "RECEIPTD CAFE", "align": "center", "bold": True},
    {"type": "row", "left": "Flat white", "right": "3.80"},
    {"type": "row", "left": "Croissant", "right": "2.90"},
    {"type": "rule"},
    {"type": "row", "left": "TOTAL", "right": "6.70", "bold": True},
    {"type": "qr", "data": "https://example.invalid/r/000000000"},
    {"type": "cut"},
]}



class Daemon:
    def __init__(self, journal: Path, printer_url: str, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (work / f"{journal.stem}.log").open("wb")
        env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(work / "escpos-cache")}
        # Retention off: the fill spreads N receipts over N seconds (115 days at 10M), and the
        # default 90 days would purge millions of them while the figures are taken.
        config = work / "no-retention.toml"
        config.write_text("[retention]\ndays = 0\n")
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal", str(journal),
                "--listen", f"127.0.0.1:{self.port}", "--printer", f"front={printer_url}",
                "--token", f"admin:{TOKEN}", "--log-format", "json", "--config", str(config)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=self.log)
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"daemon exited: see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.start_s = time.perf_counter() - started
        self.http = httpx.Client(base_url=self.url, timeout=60,
                                 headers={"Authorization": f"Bearer {TOKEN}"})

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def wait_background_check(d: Daemon, timeout: float = 3600.0) -> float | None:
    """Wait for the journal check that runs after READY; its seconds, as the daemon says."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check = d.http.get("/v1/system").json()["journal"]["background_check"]
        if check["state"] in ("ok", "damaged", "failed"):
            if check["state"] != "ok":
                raise SystemExit(f"the journal check says {check['state']}: {check}")
            return float(check["seconds"]) if check["seconds"] is not None else None
        time.sleep(0.2)
    raise SystemExit("the journal check did not finish")


def timed(fn: Callable[[int], object], runs: int) -> list[float]:
    out = []
    for k in range(runs):
        t = time.perf_counter()
        fn(k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"median": statistics.median(ms), "p95": ms[max(int(len(ms) * 0.95) - 1, 0)]}


def measure(journal: Path, n: int, printer_url: str, work: Path, submits: int,
            lookups: int) -> dict[str, Any]:
    d = Daemon(journal, printer_url, work)
    rng = random.Random(7)
    tag = f"{journal.stem}-{os.getpid()}"  # a kept journal measured again: new keys
    try:
        def submit(k: int) -> None:
            r = d.http.post("/v1/printers/front/receipts",
                            json={"document": DOC, "order_ref": f"{tag}-api-{k}",
                                  "idempotency_key": f"{tag}-key-{k}"})
            assert r.status_code == 202, r.text

        def ref() -> str:
            # an order that exists: the filler's order-{i} in the full journal, the receipts
            # just submitted in the empty one (one receipt each, in both)
            if n:
                return f"order-{rng.randrange(1, n + 1)}"
            return f"{tag}-api-{rng.randrange(submits)}"

        def lookup(_: int) -> None:
            r = d.http.get(f"/v1/orders/{ref()}")
            assert r.status_code == 200 and len(r.json()["receipts"]) == 1, r.text

        def search(_: int) -> None:
            r = d.http.get("/v1/receipts", params={"order_ref": ref()})
            assert r.status_code == 200 and len(r.json()["receipts"]) == 1, r.text

        # The full integrity check reads the whole file after READY, in the background:
        # measured apart, and the lookups after it (while it runs they share the disk and
        # the interpreter with it).
        check_s = wait_background_check(d)
        for k in range(10):  # warm up: connection, caches, first renders
            d.http.get(f"/v1/orders/warm-{k}")
        results: dict[str, Any] = {
            "start_s": round(d.start_s, 2),
            "background_check_s": check_s,
            "submit": summary(timed(submit, submits)),
            "order_lookup": summary(timed(lookup, lookups)),
            "order_search": summary(timed(search, lookups)),
        }
        # The admin's journal stats count every receipt by state: seconds on a big journal.
        t = time.perf_counter()
        stats = d.http.get("/v1/journal/stats", timeout=600).json()
        results["stats_s"] = round(time.perf_counter() - t, 2)
        count = sum(stats["receipts"].values())
        used = (stats["page_count"] - stats["freelist_count"]) * stats["page_size"]
        results["receipts"] = count
        results["bytes_per_receipt"] = used / max(count, 1)
    finally:
        d.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="receipts in the full journal")
    ap.add_argument("--submits", type=int, default=300)
    ap.add_argument("--lookups", type=int, default=500)
    ap.add_argument("--dir", default=None, help="where to put the journals (default: a tempdir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--reuse", type=Path, metavar="DIR",
                    help="measure the full.db a kept run left in DIR instead of filling one")
    args = ap.parse_args(argv)

    if args.reuse:
        work, args.keep = args.reuse, True
        (work / "empty.db").unlink(missing_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="journal-scale-", dir=args.dir))
    empty, full = work / "empty.db", work / "full.db"
    print(f"work directory {work}", flush=True)
    if not args.reuse:
        fill_s = fill(full, args.n)
        size = full.stat().st_size
        print(f"filled {args.n:,} receipts in {fill_s:.1f}s: file {size / 1e6:,.1f} MB "
              f"({size / max(args.n, 1):,.0f} bytes/receipt)", flush=True)
    emu = Emulator(speed_mm_s=5000.0)
    try:
        emu.start_tcp()
        res_empty = measure(empty, 0, emu.tcp_url, work, args.submits, args.lookups)
        emu.reset()
        res_full = measure(full, args.n, emu.tcp_url, work, args.submits, args.lookups)
    finally:
        emu.stop()
    print(f"daemon start (incl. quick_check): empty {res_empty['start_s']}s, "
          f"full {res_full['start_s']}s; journal stats: empty {res_empty['stats_s']}s, "
          f"full {res_full['stats_s']}s")
    print(f"{'ms (API, kept-alive)':<22}{'empty med':>10}{'p95':>8}{'full med':>10}{'p95':>8}"
          f"{'ratio med':>11}{'ratio p95':>11}")
    for key in ("submit", "order_lookup", "order_search"):
        e, f = res_empty[key], res_full[key]
        print(f"{key:<22}{e['median']:>10.2f}{e['p95']:>8.2f}{f['median']:>10.2f}"
              f"{f['p95']:>8.2f}{f['median'] / e['median']:>11.2f}{f['p95'] / e['p95']:>11.2f}")
    print(f"journal bytes/receipt (used pages): full {res_full['bytes_per_receipt']:,.0f} "
          f"({res_full['receipts']:,} receipts), API-submitted only "
          f"{res_empty['bytes_per_receipt']:,.0f} ({res_empty['receipts']:,} receipts)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

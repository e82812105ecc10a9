"""Start → READY: how long ``receiptd run`` takes to tell systemd it serves, on an empty journal
and on a large one, measured in the same run.

    python bench/start.py                       # empty and 200k receipts, 7 starts each
    python bench/start.py --n 1000000 --runs 11 # the issue's 1M-receipt journal (~2.5 GB)
    python bench/start.py --quick               # 20k receipts, 3 starts each

Each start is a real ``receiptd run`` subprocess with one emulated printer (in this process)
and ``NOTIFY_SOCKET`` pointing at a datagram socket of ours, as systemd would set it:

- **READY**: from ``Popen`` to the ``READY=1`` datagram (``sd_notify``);
- **/healthz**: from ``Popen`` to the first ``200`` of ``GET /healthz`` (polled after READY);
- **check**: when the daemon's background journal integrity check reported (its
  ``journal_check`` log event), from ``Popen``; the check runs after READY.

The large journal is filled by ``bench/journal_bench.py``'s ``fill`` (bulk inserts, one printed
original per receipt, realistic bodies). Each started daemon is stopped with SIGTERM before the
next start. Absolute numbers depend on the disk and the page cache (the files are read once
before the first start, so every start sees a warm cache, as a restart does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from journal_bench import fill  # the bulk filler of the journal benchmark, reused

from receiptd.emulator import Emulator
from receiptd.testing.loopback import free_port

TIMEOUT_S = 600.0  # one start may take this long before the bench gives up on it


def _warm(path: Path) -> None:
    """Read the journal once so every start sees the same (warm) page cache."""
    for part in (path, Path(f"{path}-wal")):
        if part.exists():
            with part.open("rb") as fh:
                while fh.read(1 << 20):
                    pass


def _check_event(log: Path) -> dict[str, Any] | None:
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "journal_check":
            return entry
    return None


def start_once(journal: Path, printer_url: str, work: Path, run: int,
               check_wait_s: float = TIMEOUT_S) -> dict[str, float | None]:
    """One start: seconds to READY, to /healthz, to the check's report (waited for at most
    ``check_wait_s`` after /healthz answers)."""
    port = free_port()
    notify_path = work / f"notify-{run}"
    log_path = work / f"{journal.stem}-{run}.log"
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(work / "escpos-cache"),
           "NOTIFY_SOCKET": str(notify_path)}
    args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal", str(journal),
            "--listen", f"127.0.0.1:{port}", "--printer", f"front={printer_url}",
            "--log-format", "json"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify, log_path.open("wb") as log:
        notify.bind(str(notify_path))
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        try:
            ready = healthz = check = None
            deadline = started + TIMEOUT_S
            while ready is None:
                left = deadline - time.perf_counter()
                if left <= 0 or proc.poll() is not None:
                    raise SystemExit(f"daemon did not get READY: see {log_path}")
                notify.settimeout(min(left, 0.5))
                try:
                    message = notify.recv(4096).decode()
                except TimeoutError:
                    continue
                if "READY=1" in message.splitlines():
                    ready = time.perf_counter() - started
            with httpx.Client(timeout=1) as client:
                while healthz is None and time.perf_counter() < deadline:
                    try:
                        if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            healthz = time.perf_counter() - started
                    except httpx.HTTPError:
                        time.sleep(0.002)
            check_deadline = time.perf_counter() + check_wait_s
            while check is None and time.perf_counter() < check_deadline and proc.poll() is None:
                event = _check_event(log_path)
                if event is not None:
                    check = time.perf_counter() - started
                    if event.get("result") != "ok":
                        raise SystemExit(f"journal check did not pass: {event}")
                else:
                    time.sleep(0.01)
            return {"ready": ready, "healthz": healthz, "check": check}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            notify_path.unlink(missing_ok=True)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def summarise(runs: list[dict[str, float | None]]) -> dict[str, dict[str, float] | None]:
    out: dict[str, dict[str, float] | None] = {}
    for key in ("ready", "healthz", "check"):
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = ({"median": statistics.median(values), "p95": _p95(values)}  # type: ignore[arg-type]
                    if values else None)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="receipts in the large journal")
    ap.add_argument("--runs", type=int, default=7, help="starts per journal")
    ap.add_argument("--quick", action="store_true", help="20k receipts, 3 starts each")
    ap.add_argument("--dir", default=None, help="where to put the journals (default: a tempdir)")
    ap.add_argument("--journal", type=Path, default=None,
                    help="an existing large journal to copy instead of filling one")
    ap.add_argument("--check-wait", type=float, default=TIMEOUT_S,
                    help="seconds to wait for the background check's report after /healthz")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.runs = 20_000, 3

    work = Path(tempfile.mkdtemp(prefix="receiptd-start-", dir=args.dir))
    try:
        empty, large = work / "empty.db", work / "large.db"
        if args.journal is not None:
            shutil.copyfile(args.journal, large)
            n = args.n
            print(f"large journal: a copy of {args.journal}", flush=True)
        else:
            n = args.n
            fill_s = fill(large, n)
            print(f"filled {n:,} receipts in {fill_s:.1f} s", flush=True)
        size = large.stat().st_size
        results: dict[str, Any] = {}
        emu = Emulator(speed_mm_s=5000.0)
        try:
            emu.start_tcp()
            for label, journal in (("empty", empty), (f"{n:,} receipts", large)):
                _warm(journal)
                runs = [start_once(journal, emu.tcp_url, work, i, args.check_wait)
                        for i in range(args.runs)]
                results[label] = {"runs": runs, **summarise(runs),
                                  "bytes": journal.stat().st_size if journal.exists() else 0}
        finally:
            emu.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nstart of `receiptd run`, {args.runs} starts per journal (seconds from Popen)")
    print(f"{'journal':<18}{'size':>10}{'READY med':>11}{'p95':>8}{'healthz med':>13}{'p95':>8}"
          f"{'check med':>11}{'p95':>8}")
    def cell(res: dict[str, Any], key: str, stat: str) -> str:
        value = res[key]
        return f"{value[stat]:.3f}" if value else "-"

    for label, res in results.items():
        print(f"{label:<18}{res['bytes'] / 1e6:>8.1f}MB{cell(res, 'ready', 'median'):>11}"
              f"{cell(res, 'ready', 'p95'):>8}{cell(res, 'healthz', 'median'):>13}"
              f"{cell(res, 'healthz', 'p95'):>8}{cell(res, 'check', 'median'):>11}"
              f"{cell(res, 'check', 'p95'):>8}")
    print(f"target: READY <= 1 s whatever the journal's size (large journal: {size / 1e6:,.0f} MB)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast the truth about a printer fault reaches the health API, and how fast printing resumes.

    python bench/fault_latency.py [--n 20] [--speed 250]

The real daemon (a ``receiptd run`` subprocess) against the in-process emulator over TCP,
measured over N repetitions of each:

* **fault → health API**: a fault injected at the emulator (paper out / cover open, alternately)
  until ``GET /v1/printers/front`` shows it (DESIGN.md target: 250 ms);
* **fault cleared → printing**: a receipt held by paper-out; paper loaded until the first byte
  of that receipt reaches the emulator (target: 1 s);
* **silent → offline**: the printer stops answering until the API shows ``offline`` (target 2 s).

The API is polled every 5 ms, so each figure includes up to ~5 ms of observation delay.
Prints a table of medians and p95s with their ratio to the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from receiptd.emulator import Emulator
from receiptd.testing.loopback import free_port

ADMIN, POS = "bench-admin-secret", "bench-pos-secret"
TARGETS = {"fault -> health API": 0.25, "fault cleared -> printing": 1.0,
           "silent -> offline": 2.0}



def _until(pred: Callable[[], Any], timeout: float = 15.0, interval: float = 0.005) -> float:
    """Poll ``pred`` until true; returns the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError("condition not met")


class FirstByte:
    """Instrument the emulator's input: when did print data (not a status poll) first arrive?"""

    def __init__(self, emu: Emulator) -> None:
        self._feed = emu.engine.feed
        self.armed_at: float | None = None
        self.seen_at: float | None = None
        self._lock = threading.Lock()
        emu.engine.feed = self._wrapped  # type: ignore[method-assign]

    def arm(self) -> None:
        with self._lock:
            self.armed_at, self.seen_at = time.monotonic(), None

    def _wrapped(self, source: str, data: bytes) -> int:
        n = self._feed(source, data)
        if n and self.armed_at is not None and self.seen_at is None and b"\x1b@" in data[:n]:
            with self._lock:
                self.seen_at = time.monotonic()  # ESC @ starts every rendered receipt
        return n


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20, help="repetitions of each measurement (>= 20)")
    ap.add_argument("--speed", type=float, default=250.0, help="emulated print speed, mm/s")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="receiptd-bench-"))
    emu = Emulator(speed_mm_s=args.speed)
    probe = FirstByte(emu)
    port = free_port()
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp / "escpos")}
    cmd = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal", str(tmp / "j.db"),
           "--listen", f"127.0.0.1:{port}", "--log-format", "json",
           "--printer", f"front=tcp://127.0.0.1:{emu.start_tcp()}",
           "--token", f"admin:{ADMIN}", "--token", f"pos:{POS}"]
    log = (tmp / "daemon.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
    pos = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {POS}"}, timeout=5)
    results: dict[str, list[float]] = {k: [] for k in TARGETS}

    def state() -> str:
        try:
            return str(admin.get("/v1/printers/front").json()["state"])
        except (httpx.HTTPError, KeyError, ValueError):
            return ""

    def submit(tag: str) -> int:
        doc = {"blocks": [{"type": "text", "text": f"RECEIPT {tag}"},
                          {"type": "row", "left": "Item", "right": "1.00"}, {"type": "cut"}]}
        r = pos.post("/v1/printers/front/receipts", json={"document": doc})
        r.raise_for_status()
        return int(r.json()["id"])

    def printed(rid: int) -> bool:
        return bool(pos.get(f"/v1/receipts/{rid}").json()["state"] == "printed")

    try:
        _until(lambda: state() == "online", timeout=30)
        printed_id = submit("warmup")
        _until(lambda: printed(printed_id), timeout=30)
        for i in range(args.n):
            fault = ("paper_out", "cover_open")[i % 2]
            t0 = time.monotonic()
            emu.inject(fault)
            results["fault -> health API"].append(_until(lambda f=fault: state() == f) - t0)
            emu.clear(fault)
            _until(lambda: state() == "online")

            emu.inject("paper_out")
            _until(lambda: state() == "paper_out")
            rid = submit(f"held-{i}")
            time.sleep(0.3)  # the spooler is waiting on the fault now
            probe.arm()
            t0 = time.monotonic()
            emu.clear("paper_out")
            _until(lambda: probe.seen_at is not None)
            assert probe.seen_at is not None
            results["fault cleared -> printing"].append(probe.seen_at - t0)
            _until(lambda r=rid: printed(r))

            t0 = time.monotonic()
            emu.inject("silent")
            results["silent -> offline"].append(_until(lambda: state() == "offline") - t0)
            emu.clear("silent")
            _until(lambda: state() == "online")
            print(f"  round {i + 1}/{args.n} done", file=sys.stderr)
    finally:
        proc.kill()
        proc.wait(10)
        emu.stop()
    print(f"fault latency: real daemon + emulator over TCP, n={args.n}, "
          f"emulated speed {args.speed:g} mm/s\n")
    print(f"{'measure':28} {'target':>8} {'median':>8} {'p95':>8} {'median/target':>14} "
          f"{'p95/target':>11}")
    for name, target in TARGETS.items():
        values = results[name]
        med, p95 = statistics.median(values), _pct(values, 0.95)
        print(f"{name:28} {target * 1000:6.0f}ms {med * 1000:6.0f}ms {p95 * 1000:6.0f}ms "
              f"{med / target:14.2f} {p95 / target:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

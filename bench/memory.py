"""Memory of the daemon: idle RSS with one printer, peak RSS under a burst, and what each
imported library costs.

    python bench/memory.py                 # imports table + a real daemon, burst of 1,000
    python bench/memory.py --quick         # burst of 200
    python bench/memory.py --imports-only  # only the per-import table

Three measurements, each in a fresh process:

1. **Per import**: a child interpreter imports the libraries one group at a time, in the order
   below, and reads its own ``VmRSS`` (``/proc/self/status``) after each; a group's cost is what
   it added on top of the groups before it (shared dependencies count for the first group that
   pulls them in). ``receiptd.daemon`` comes last: what the daemon's own modules add, and then
   the lazily imported parts (rendering, images, codes) the first receipt pays for.
2. **The running daemon**: ``receiptd run`` with one emulated printer (in this process) and an
   empty journal; idle RSS once it is READY, its background journal check has reported and it
   sat idle for ``--settle`` seconds; then one receipt (the first receipt pays the imports the
   idle daemon deferred: its latency and the RSS it adds are shown), then a burst of
   ``--burst`` receipts from ``--clients`` threads, each on its own kept-alive connection, while
   ``VmRSS`` is sampled; the peak is ``VmHWM``, started again just before the burst
   (``/proc/PID/clear_refs``), so it is the burst's own peak; the peak while starting (the
   ``VmHWM`` at idle) is shown on its own line. After the burst the daemon sits idle for
   ``--settle`` seconds again and its RSS is read once more.
   ``--block MODULE`` makes a module unimportable in the children too: what the daemon would
   weigh without an optional package (``--block uvloop``).
3. **As shipped**: ``rich`` (and ``pygments`` under it) is no dependency of receiptd, but
   structlog imports it whenever it is installed, and the development environment has it (for
   import-linter and schemathesis): 6 MB. By default the children here run as a production
   install would, without it (``sys.modules["rich"] = None``); ``--dev-env`` measures the
   environment as it is.
4. **What the idle daemon has imported**: the daemon runs under a small wrapper that writes
   ``sys.modules`` to a file on SIGUSR1, so the table says which heavy libraries are loaded
   idle and which only after the first receipt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (label, modules imported for it). Order matters: each row is measured on top of the rows
#: before it. The third-party rows are what receiptd.daemon pulled in at start before the
#: imports were made lazy; the numbers show what each would cost if it were still there.
GROUPS: list[tuple[str, list[str]]] = [
    ("stdlib: asyncio, sqlite3, json, ssl, threading", [
        "asyncio", "sqlite3", "json", "ssl", "threading", "socket", "logging", "datetime"]),
    ("structlog (and rich, pygments where installed)", ["structlog"]),
    ("pydantic", ["pydantic"]),
    ("starlette", ["starlette.applications", "starlette.routing", "starlette.responses"]),
    ("uvicorn (with click, h11)", ["uvicorn", "uvicorn.protocols.http.h11_impl"]),
    ("prometheus_client", ["prometheus_client"]),
    ("sqlite_utils (with dateutil, pluggy)", ["sqlite_utils"]),
    ("PIL (Image, ImageDraw, ImageFont)", ["PIL.Image", "PIL.ImageDraw", "PIL.ImageFont"]),
    ("qrcode", ["qrcode"]),
    ("python-barcode", ["barcode", "barcode.writer"]),
    # Through receiptd's door, as the daemon loads it: the database's pickle written from JSON
    # into a fresh cache directory (python-escpos alone would parse it with PyYAML: 2.4 MB
    # more), and PyYAML itself not imported unless a database of one's own is YAML.
    ("python-escpos capabilities (pickle, no PyYAML)", ["receiptd.render.escpos"]),
    ("python-escpos command builder (escpos.escpos)", ["escpos.escpos"]),
    ("python-escpos printer drivers (usb, serial)", ["escpos.printer"]),
    ("wcwidth (first non-ASCII character)", ["wcwidth"]),
    ("receiptd.daemon at start (serve, wiring, cli)", [
        "receiptd.cli.daemon", "receiptd.daemon.serve", "receiptd.daemon.wiring"]),
    ("receiptd: first receipt (render, spool)", [
        "receiptd.render", "receiptd.render.escpos", "receiptd.render.codes",
        "receiptd.render.raster", "receiptd.spool.prepare"]),
    # Last: the daemon serves its API with Starlette and pydantic alone; this row is what
    # FastAPI would add on top of everything above if it were imported again.
    ("fastapi (not imported by the daemon)", ["fastapi"]),
]

#: Packages a production install does not have, blocked in the children unless --dev-env.
DEV_ONLY = ("rich",)

_CHILD_IMPORTS = r"""
import importlib, json, os, sys, time
for name in filter(None, os.environ.get("BENCH_BLOCK", "").split(",")):
    sys.modules[name] = None
def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
groups = json.loads(sys.argv[1])
out = [{"label": "interpreter", "rss_mb": rss(), "delta_mb": 0.0, "ms": 0.0, "modules": 0}]
for label, modules in groups:
    before, count, t = rss(), len(sys.modules), time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            out.append({"label": f"{label} (missing: {exc.name})", "rss_mb": rss(),
                        "delta_mb": 0.0, "ms": 0.0, "modules": 0})
            break
    else:
        after = rss()
        out.append({"label": label, "rss_mb": after, "delta_mb": after - before,
                    "ms": (time.perf_counter() - t) * 1000,
                    "modules": len(sys.modules) - count})
print(json.dumps(out))
"""

#: Run the daemon; on SIGUSR1 write sorted(sys.modules) to the file named first.
_CHILD_DAEMON = r"""
import json, os, signal, sys
for name in filter(None, os.environ.get("BENCH_BLOCK", "").split(",")):
    sys.modules[name] = None
out = sys.argv[1]
def loaded(name, module):
    # Stand-ins (receiptd.render.ondemand, receiptd.cli) have no spec: not imported yet.
    return module is not None and (name == "__main__" or
                                   getattr(module, "__spec__", None) is not None)
def dump(signum, frame):
    with open(out, "w") as fh:
        json.dump(sorted(n for n, m in list(sys.modules.items()) if loaded(n, m)), fh)
signal.signal(signal.SIGUSR1, dump)
from receiptd.cli.daemon import main
sys.exit(main(sys.argv[2:]))
"""

HEAVY = ("PIL", "PIL.ImageDraw", "PIL.ImageFont", "qrcode", "barcode", "escpos", "yaml", "usb",
         "serial", "sqlite_utils",
         "dateutil", "rich", "pygments", "click", "fastapi", "pydantic", "starlette", "uvicorn",
         "prometheus_client", "wcwidth", "httpx", "numpy", "multiprocessing", "receiptd.render",
         "receiptd.epos", "receiptd.vport", "receiptd.api.console", "receiptd.links.usb",
         "receiptd.links.serial")


def import_table(block: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="receiptd-memory-") as cache:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_BLOCK": block,
               "ESCPOS_CAPABILITIES_PICKLE_DIR": cache}
        r = subprocess.run([sys.executable, "-c", _CHILD_IMPORTS, json.dumps(GROUPS)],
                           capture_output=True, text=True, env=env, timeout=300, check=True)
    rows: list[dict[str, Any]] = json.loads(r.stdout)
    return rows


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak(pid: int) -> bool:
    """Start ``VmHWM`` again from the current RSS (``/proc/PID/clear_refs``, value 5), so the
    next reading is the peak of what follows, not of the start; false where the kernel or
    the sandbox does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def _log_has(log: Path, event: str) -> bool:
    for line in log.read_text(errors="replace").splitlines():
        try:
            if json.loads(line).get("event") == event:
                return True
        except (ValueError, AttributeError):
            continue
    return False


def _modules(pid: int, path: Path) -> list[str]:
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    _wait_for(lambda: path.exists() and path.stat().st_size > 0, 10, "the module list")
    time.sleep(0.05)  # written in one go; let the writer close it
    names: list[str] = json.loads(path.read_text())
    return names


def _heavy(modules: list[str]) -> list[str]:
    return sorted({h for h in HEAVY for m in modules if m == h or m.startswith(h + ".")})


def daemon_run(work: Path, burst: int, clients: int, settle: float,
               block: str) -> dict[str, Any]:
    import httpx

    from receiptd.emulator import Emulator
    from receiptd.testing.loopback import free_port

    doc = {"document": {"blocks": [
        {"type": "text", "text": "CAFE LUNA", "align": "center", "bold": True},
        *({"type": "row", "left": f"Item {i}", "right": f"{i}.50"} for i in range(8)),
        {"type": "qr", "data": "https://example.invalid/r/1"},
        {"type": "cut"},
    ]}}
    emu = Emulator(speed_mm_s=50_000.0)
    emu.start_tcp()
    port = free_port()
    log_path, modules_path = work / "daemon.log", work / "modules.json"
    token = "bench-pos"
    args = [sys.executable, "-c", _CHILD_DAEMON, str(modules_path), "run",
            "--journal", str(work / "journal.db"), "--listen", f"127.0.0.1:{port}",
            "--printer", f"front={emu.tcp_url}", "--token", f"pos:{token}",
            "--log-format", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_BLOCK": block,
           "ESCPOS_CAPABILITIES_PICKLE_DIR": str(work / "escpos-cache")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited: see {log_path}")
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, 60, "/healthz")
        _wait_for(lambda: _log_has(log_path, "journal_check") or
                  (_log_has(log_path, "ready") and time.sleep(1) is None), 60, "the check")
        time.sleep(settle)
        idle = status_mb(proc.pid, "VmRSS")
        idle_anon, idle_file = status_mb(proc.pid, "RssAnon"), status_mb(proc.pid, "RssFile")
        start_peak = status_mb(proc.pid, "VmHWM")
        idle_modules = _modules(proc.pid, modules_path)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            t = time.perf_counter()
            r = client.post("/v1/printers/front/receipts", json=doc)
            first_ms = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            t = time.perf_counter()
            client.post("/v1/printers/front/receipts", json=doc).raise_for_status()
            second_ms = (time.perf_counter() - t) * 1000
            receipt_id = r.json()["id"]
            _wait_for(lambda: client.get(f"/v1/receipts/{receipt_id}").json()["state"]
                      == "printed", 30, "the first receipt printed")
        after_first = status_mb(proc.pid, "VmRSS")
        first_modules = _modules(proc.pid, modules_path)
        first_peak = status_mb(proc.pid, "VmHWM")
        peak_reset = reset_peak(proc.pid)

        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(status_mb(proc.pid, "VmRSS"))
                done.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        per_client = [burst // clients + (1 if i < burst % clients else 0)
                      for i in range(clients)]
        errors: list[str] = []

        def drive(n: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                for _ in range(n):
                    resp = client.post("/v1/printers/front/receipts", json=doc)
                    if resp.status_code != 202:
                        errors.append(resp.text)

        t = time.perf_counter()
        threads = [threading.Thread(target=drive, args=(n,)) for n in per_client]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        burst_s = time.perf_counter() - t
        done.set()
        sampler.join()
        peak_hwm = status_mb(proc.pid, "VmHWM")
        end = status_mb(proc.pid, "VmRSS")
        threads = round(status_mb(proc.pid, "Threads") * 1024)  # a count, not kB
        time.sleep(settle)
        after_burst = status_mb(proc.pid, "VmRSS")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        emu.stop()
    return {
        "idle_rss_mb": idle,
        "idle_anon_mb": idle_anon,
        "idle_file_mb": idle_file,
        "start_peak_mb": start_peak,
        "first_peak_mb": first_peak,
        "idle_heavy": _heavy(idle_modules),
        "idle_modules": len(idle_modules),
        "first_receipt_ms": first_ms,
        "second_receipt_ms": second_ms,
        "after_first_rss_mb": after_first,
        "first_heavy": sorted(set(_heavy(first_modules)) - set(_heavy(idle_modules))),
        "burst": burst, "clients": clients, "burst_s": burst_s, "burst_errors": len(errors),
        "burst_peak_sampled_mb": max(samples) if samples else None,
        "burst_median_mb": statistics.median(samples) if samples else None,
        "peak_hwm_mb": peak_hwm,
        "peak_is_burst_only": peak_reset,
        "end_rss_mb": end,
        "threads_after_burst": threads,
        "settled_after_burst_mb": after_burst,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--burst", type=int, default=1000, help="receipts in the burst")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--settle", type=float, default=3.0, help="idle seconds before measuring")
    ap.add_argument("--quick", action="store_true", help="a burst of 200")
    ap.add_argument("--imports-only", action="store_true")
    ap.add_argument("--dev-env", action="store_true",
                    help="measure with the development packages (rich) importable")
    ap.add_argument("--block", action="append", default=[], metavar="MODULE",
                    help="also make MODULE unimportable in the children (repeatable): what "
                    "the daemon would weigh without an optional package, e.g. uvloop")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.quick:
        args.burst = 200

    block = ",".join([*(() if args.dev_env else DEV_ONLY), *args.block])
    rows = import_table(block)
    print(f"environment: {'development (rich importable)' if args.dev_env else 'as shipped'}"
          f"{f' (blocked: {block})' if block else ''}")
    print("per import (a fresh interpreter; each row on top of the rows above it)")
    print(f"{'group':<50}{'+MB':>8}{'RSS MB':>9}{'ms':>9}{'modules':>9}")
    for row in rows:
        print(f"{row['label']:<50}{row['delta_mb']:>8.1f}{row['rss_mb']:>9.1f}"
              f"{row['ms']:>9.0f}{row['modules']:>9}")
    result: dict[str, Any] = {"imports": rows}
    if not args.imports_only:
        work = Path(tempfile.mkdtemp(prefix="receiptd-memory-"))
        try:
            run = daemon_run(work, args.burst, args.clients, args.settle, block)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result["daemon"] = run
        result["environment"] = "development" if args.dev_env else "as shipped"
        print("\nthe running daemon (one printer, empty journal)")
        print(f"{'figure':<50}{'value':>12}{'target':>10}")
        print(f"{'idle RSS':<50}{run['idle_rss_mb']:>10.1f}MB{'<= 40 MB':>10}")
        print(f"{'  of which anonymous / file-backed':<50}"
              f"{run['idle_anon_mb']:>5.1f} / {run['idle_file_mb']:.1f} MB")
        print(f"{'peak RSS while starting (VmHWM at idle)':<50}{run['start_peak_mb']:>10.1f}MB")
        print(f"{'first receipt: submit → 202':<50}{run['first_receipt_ms']:>10.1f}ms")
        print(f"{'second receipt: submit → 202':<50}{run['second_receipt_ms']:>10.1f}ms")
        print(f"{'RSS after the first receipt printed':<50}{run['after_first_rss_mb']:>10.1f}MB")
        print(f"{'burst: receipts / clients / seconds':<50}"
              f"{run['burst']:>5} / {run['clients']} / {run['burst_s']:.1f}s")
        what = "burst alone" if run["peak_is_burst_only"] else "whole run: the reset was refused"
        print(f"{f'peak RSS under the burst (VmHWM, {what})':<50}{run['peak_hwm_mb']:>10.1f}MB"
              f"{'<= 60 MB':>10}")
        print(f"{'RSS at the end of the burst':<50}{run['end_rss_mb']:>10.1f}MB")
        print(f"{f'RSS {args.settle:g} s after the burst':<50}"
              f"{run['settled_after_burst_mb']:>10.1f}MB")
        print(f"{'threads at the end of the burst':<50}{run['threads_after_burst']:>12}")
        print(f"loaded idle ({run['idle_modules']} modules): {', '.join(run['idle_heavy'])}")
        print(f"loaded by the first receipt: {', '.join(run['first_heavy']) or '-'}")
        if run["burst_errors"]:
            print(f"burst: {run['burst_errors']} submits not answered 202")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The virtual printer port against its alternatives, in one run: how long from the app's last
byte to the receipt's first byte at the printer.

    python bench/vport.py [--n 60] [--no-cups] [--json out.json]

Every path prints the same receipt bytes (bench/run.py's ``rendered``: ~700 B of ESC/POS, a
tag in its second line) to its own emulated printer process (bench/emuproc.py, 250 mm/s), which
reports the moment the chunk carrying the tag arrives ("first byte"). One receipt at a time:
each waits for the previous cut, so no queue is measured.

* **direct**: one kept-alive TCP connection to the printer, bytes written (the floor; a write
  this small is in the kernel before ``sendall`` returns, so the figure is the loopback hop).
* **vport, close**: a new connection per receipt to the virtual port, the bytes, then the
  app closes its side (what AppSocket clients and CUPS' socket backend do): the close ends
  the job. The figure is sanitizing, the durable journal commit and the spooler's send.
* **vport, kept open**: one connection for every receipt, each followed by a ``GS ( H``
  process ID, which ends the job (no idle gap); the time to its answer, which comes once the
  receipt is on paper, is the "confirmed" figure.
* **vport, idle gap**: one connection, no process ID: the job ends after the idle gap
  (``virtual_port_idle_s``, set to ``IDLE_S`` here), which the figure includes.
* **cups**: a private cupsd (bench/cups_server.py, needs root and the cups packages) with a raw
  queue on the printer, a job sent over IPP (bench/ipp.py). "Last byte" is taken when the
  Print-Job response is in, after the last byte went, so this figure is if anything low.

Prints a Markdown table and the raw figures (JSON); medians and p95 in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cups_server as cups_mod  # noqa: E402
import run as bench  # noqa: E402
from ipp import IppClient  # noqa: E402

from receiptd.testing.loopback import free_port  # noqa: E402

IDLE_S = 0.5  # the kept-open scenario's idle gap (the default is 2 s)


def _delta(t0: float, t: float | None) -> float | None:
    """Seconds from the app's last byte to a printer event (signed: on the direct path the
    printer may read the bytes before ``sendall`` returns)."""
    return None if t is None else t - t0


def _ms(values: list[float | None]) -> dict[str, Any]:
    return bench.stats([v * 1000 for v in values if v is not None])


class VportDaemon:
    """``receiptd run`` with a virtual port for its printer; the port from its ready line."""

    def __init__(self, work: Path, printer_url: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "daemon.log"
        config = work / "vport.toml"
        config.write_text(f"[printers.front]\nvirtual_port_idle_s = {IDLE_S}\n")
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
                str(work / "journal.db"), "--listen", f"127.0.0.1:{free_port()}",
                "--log-format", "json", "--config", str(config),
                "--printer", f"front={printer_url}", "--virtual-printer", "front=127.0.0.1:0"]
        env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(bench._cache_dir())}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        self.address = self._ready()

    def _ready(self) -> tuple[str, int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-2000:]}")
            for line in self.log_path.read_text(errors="replace").splitlines():
                if '"ready"' in line:
                    entry = json.loads(line)
                    host, _, port = entry["virtual_ports"]["front"].rpartition(":")
                    return host, int(port)
            time.sleep(0.05)
        raise RuntimeError("daemon not ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def direct(printer: bench.Printer, n: int) -> dict[str, Any]:
    tags, sock = printer.tags("d"), bench.Direct(printer)
    first: list[float | None] = []
    try:
        for _ in range(n):
            tag = tags.next()
            sock.write(bench.rendered(tag))
            t0 = bench.now()
            first.append(_delta(t0, printer.wait_first_byte(tag)))
            printer.wait_cut(tag)
    finally:
        sock.close()
    return {"first_byte": _ms(first)}


def vport_close(daemon: VportDaemon, printer: bench.Printer, n: int) -> dict[str, Any]:
    tags = printer.tags("c")
    first: list[float | None] = []
    for _ in range(n):
        tag = tags.next()
        with socket.create_connection(daemon.address, timeout=30) as sock:
            sock.sendall(bench.rendered(tag))
            sock.shutdown(socket.SHUT_WR)
            t0 = bench.now()
            first.append(_delta(t0, printer.wait_first_byte(tag)))
        printer.wait_cut(tag)
    return {"first_byte": _ms(first)}


def vport_open(daemon: VportDaemon, printer: bench.Printer, n: int) -> dict[str, Any]:
    tags = printer.tags("k")
    first: list[float | None] = []
    confirmed: list[float | None] = []
    with socket.create_connection(daemon.address, timeout=30) as sock:
        for i in range(n):
            tag = tags.next()
            pid = f"{i % 10000:04d}".encode()
            sock.sendall(bench.rendered(tag) + b"\x1d(H\x06\x0000" + pid)
            t0 = bench.now()
            want, got = b"\x37\x22" + pid + b"\x00", b""
            while want not in got:
                chunk = sock.recv(64)
                if not chunk:
                    raise RuntimeError("the virtual port closed the connection")
                got += chunk
            confirmed.append(bench.now() - t0)
            first.append(_delta(t0, printer.wait_first_byte(tag)))
            printer.wait_cut(tag)
    return {"first_byte": _ms(first), "confirmed": _ms(confirmed)}


def vport_idle(daemon: VportDaemon, printer: bench.Printer, n: int) -> dict[str, Any]:
    tags = printer.tags("i")
    first: list[float | None] = []
    with socket.create_connection(daemon.address, timeout=30) as sock:
        for _ in range(n):
            tag = tags.next()
            sock.sendall(bench.rendered(tag))
            t0 = bench.now()
            first.append(_delta(t0, printer.wait_first_byte(tag)))
            printer.wait_cut(tag)
    return {"first_byte": _ms(first)}


def cups(server: cups_mod.PrivateCups, printer: bench.Printer, n: int) -> dict[str, Any]:
    tags = printer.tags("u")
    client = IppClient("127.0.0.1", server.port, server.queue)
    first: list[float | None] = []
    try:
        for _ in range(n):
            tag = tags.next()
            client.print_job(bench.rendered(tag), tag)
            t0 = bench.now()
            first.append(_delta(t0, printer.wait_first_byte(tag)))
            printer.wait_cut(tag)
    finally:
        client.close()
    return {"first_byte": _ms(first)}


def table(res: dict[str, Any]) -> str:
    rows = ["| path | first byte at the printer, median | p95 | n |", "|---|---|---|---|"]
    for name, r in res["paths"].items():
        f = r["first_byte"]
        rows.append(f"| {name} | {f['median']:.1f} ms | {f['p95']:.1f} ms | {f['n']} |")
    if "vport, kept open" in res["paths"]:
        c = res["paths"]["vport, kept open"]["confirmed"]
        rows.append(f"\nvport, kept open: process ID answered after {c['median']:.0f} ms median"
                    f" ({c['p95']:.0f} ms p95), once the receipt is on paper (250 mm/s)."
                    f" Idle gap: {IDLE_S} s.")
    return "\n".join(rows)


def measure(n: int, use_cups: bool = True) -> dict[str, Any]:
    """Every path, ``n`` receipts each, on fresh printers: the figures (bench/run.py may call
    this and put the result under ``vport``)."""
    res: dict[str, Any] = {"machine": bench.machine(), "n": n, "idle_s": IDLE_S, "paths": {}}
    why = cups_mod.available() if use_cups else "not asked for"
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="receiptd-vport-") as work:
        p_direct, p_vport, p_cups = (bench.Printer(bench.REALISTIC_MM_S) for _ in range(3))
        for p in (p_direct, p_vport, p_cups):
            stack.callback(p.stop)
        daemon = VportDaemon(Path(work) / "daemon", p_vport.url)
        stack.callback(daemon.stop)
        server = None
        if why is None:
            server = cups_mod.PrivateCups(free_port())
            stack.callback(server.stop)
            server.start(f"socket://127.0.0.1:{p_cups.port}")
        else:
            res["cups_skipped"] = why
        time.sleep(1.5)  # the daemon's printer handshake and confirmation probe
        res["paths"]["direct"] = direct(p_direct, n)
        res["paths"]["vport, close"] = vport_close(daemon, p_vport, n)
        res["paths"]["vport, kept open"] = vport_open(daemon, p_vport, n)
        res["paths"]["vport, idle gap"] = vport_idle(daemon, p_vport, n)
        if server is not None:
            res["paths"]["cups"] = cups(server, p_cups, n)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="receipts per path (>= 50 for p95)")
    ap.add_argument("--no-cups", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    res = measure(a.n, use_cups=not a.no_cups)
    print(table(res))
    print(json.dumps(res, indent=2))
    if a.json:
        a.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

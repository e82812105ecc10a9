"""receiptd against its peers, side by side in one run: a CUPS raw queue and a direct write.

    make bench                      # = .venv/bin/python bench/run.py
    python bench/run.py --quick     # small N, a minute or two
    python bench/run.py --help

Every system prints the same receipt bytes (rendered by python-escpos through receiptd's
renderer, profile TM-T88V) to its own instance of the same emulated printer (bench/emuproc.py,
a `receiptd.emulator.Emulator` in a separate process, on loopback):

* **direct**: the floor. One kept-alive TCP connection to the printer, bytes written, no
  journal; "printed" is the printer handing back a `GS ( H` process ID sent after the receipt.
* **cups**: a private cupsd (bench/cups_server.py) with a raw queue on `socket://127.0.0.1:PORT`,
  driven over IPP on one kept-alive HTTP connection per client (bench/ipp.py), as a POS app
  would. `lp` (one process per job) is measured too, for reference.
* **receiptd**: the real daemon (`receiptd run`) as a subprocess, its HTTP API on one
  kept-alive connection per client; printed = the `printed` event on `/v1/events` (SSE).

Results: a Markdown report on stdout and in bench/results/latest.md, raw numbers in
bench/results/latest.json. BENCHMARKS.md explains the method and what the numbers mean.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cups_server as cups_mod  # noqa: E402
from ipp import IppClient  # noqa: E402

from receiptd.document import Submission  # noqa: E402
from receiptd.render import render  # noqa: E402
from receiptd.render.profiles import get_profile  # noqa: E402
from receiptd.testing.loopback import free_port  # noqa: E402

TOKENS = {"pos": "bench-pos", "cashier": "bench-cashier", "admin": "bench-admin"}
PROFILE = get_profile("TM-T88V")
REALISTIC_MM_S = 250.0  # a mid-range thermal printer (TM-T20 class); TM-T88V does 300
FAST_MM_S = 50_000.0  # "infinitely fast" paper: the host software is the bottleneck



def now() -> float:
    return time.monotonic()


# ---------------------------------------------------------------------------- the receipt

def document(tag: str, items: int = 10) -> dict[str, Any]:
    """A realistic till receipt (~100 mm, ~1 KB of ESC/POS): header, items, total, QR, cut."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "CAFE LUNA", "align": "center", "bold": True, "size": [2, 2]},
        {"type": "text", "text": f"Order {tag}", "align": "center"},
        {"type": "rule"},
    ]
    blocks += [{"type": "row", "left": f"Item {i + 1}", "right": f"{i + 2}.50"}
               for i in range(items)]
    blocks += [{"type": "rule"},
               {"type": "row", "left": "TOTAL", "right": "65.00", "bold": True},
               {"type": "qr", "data": f"https://luna.example/r/{tag}"},
               {"type": "cut"}]
    return {"blocks": blocks}


def rendered(tag: str) -> bytes:
    """What a POS app that talks ESC/POS itself sends (CUPS raw queue, direct write)."""
    return render(Submission.model_validate({"document": document(tag)}).content(), PROFILE)


class Tags:
    """`BX` + a letter per scenario + a running number: the receipt's name on the printer.

    Get them from `Printer.tags`, which hands out each letter once per printer: the emulator
    reports a tag's first byte only once and the first cut after it wins, so a reused tag would
    match an earlier receipt's events and time a submission from before it was made.
    """

    def __init__(self, letter: str) -> None:
        self.letter, self.n = letter, 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.n += 1
            return f"BX{self.letter}{self.n:07d}"


# ---------------------------------------------------------------------------- the printer

class Printer:
    """One emulated printer process (bench/emuproc.py) and what it reports."""

    def __init__(self, speed: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "emuproc.py"), "--speed", str(speed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(_cache_dir())},
        )
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline())
        self.port, self.control_port = int(hello["tcp"]), int(hello["control"])
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.first_byte: dict[str, float] = {}
        self.cut: dict[str, float] = {}
        self.cuts = 0
        self._letters: set[str] = set()
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self._cond:
                if ev["ev"] == "first_byte":
                    self.first_byte.setdefault(ev["tag"], ev["t"])
                elif ev["ev"] == "cut":
                    self.cut.setdefault(ev["tag"], ev["t"])
                    self.cuts += 1
                self._cond.notify_all()

    def tags(self, letter: str) -> Tags:
        """Tags for one scenario on this printer; a letter is never handed out twice."""
        if letter in self._letters:
            raise ValueError(f"tag letter {letter!r} already used on this printer")
        self._letters.add(letter)
        return Tags(letter)

    def wait(self, pred: Callable[[], Any], timeout: float) -> Any:
        deadline = now() + timeout
        with self._cond:
            while not (value := pred()):
                left = deadline - now()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return value

    def wait_cut(self, tag: str, timeout: float = 30.0) -> float | None:
        return self.wait(lambda: self.cut.get(tag), timeout)  # type: ignore[no-any-return]

    def wait_first_byte(self, tag: str, timeout: float = 30.0) -> float | None:
        return self.wait(lambda: self.first_byte.get(tag), timeout)  # type: ignore[no-any-return]

    def control(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            reply = s.makefile().readline().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"emulator: {line}: {reply}")
        return reply

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with suppress(BrokenPipeError):
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"receiptd-bench-escpos-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


# ---------------------------------------------------------------------------- process stats

def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped backends
    return ticks / os.sysconf("SC_CLK_TCK")


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


class Sampler:
    """CPU % and peak RSS of a process over a window."""

    def __init__(self, pid: int, children: bool = False) -> None:
        self.pid, self.children = pid, children
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._t0, self._c0 = now(), cpu_seconds(pid, children)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with suppress(OSError):
                self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        cpu = cpu_seconds(self.pid, self.children) - self._c0
        wall = now() - self._t0
        return {"cpu_pct": 100 * cpu / wall, "rss_peak_mb": self.peak, "seconds": wall}


# ---------------------------------------------------------------------------- the systems

class Receiptd:
    """`receiptd run` as a subprocess, with a real NOTIFY_SOCKET to see READY=1."""

    def __init__(self, work: Path, printer_url: str, journal: Path | None = None,
                 send_window: int | None = None) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.send_window = send_window
        self.journal = journal or work / "journal.db"
        self.port = free_port()
        self.printer_url = printer_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None
        self.printed: dict[int, float] = {}
        self.printer_states: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._sse: threading.Thread | None = None
        self._sse_stop = threading.Event()

    def start(self) -> float:
        notify_path = self.work / f"notify-{self.port}.sock"
        notify_path.unlink(missing_ok=True)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
                str(self.journal), "--listen", f"127.0.0.1:{self.port}", "--log-format", "json",
                "--printer", f"front={self.printer_url}"]
        for role, secret in TOKENS.items():
            args += ["--token", f"{role}:{secret}"]
        if self.send_window is not None:
            config = self.work / "window.toml"
            config.write_text(f"[printers.front]\nsend_window_prints = {self.send_window}\n")
            args += ["--config", str(config)]
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path),
               "ESCPOS_CAPABILITIES_PICKLE_DIR": str(_cache_dir())}
        log = (self.work / "daemon.log").open("ab")
        t0 = now()
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        notify.settimeout(0.5)
        try:
            while True:
                try:
                    msg = notify.recv(4096).decode()
                except TimeoutError:
                    if self.proc.poll() is not None or now() - t0 > 600:
                        raise RuntimeError(f"daemon did not become ready: {self.log()}") from None
                    continue
                if "READY=1" in msg.split("\n"):
                    self.ready_s = now() - t0
                    break
        finally:
            notify.close()
            notify_path.unlink(missing_ok=True)
        return self.ready_s

    def log(self) -> str:
        return (self.work / "daemon.log").read_text(errors="replace")[-3000:]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def connect(self, role: str = "pos") -> ApiClient:
        return ApiClient(self.port, TOKENS[role])

    # -- events, as a POS app would follow them
    def follow_events(self) -> None:
        self._sse = threading.Thread(target=self._follow, daemon=True)
        self._sse.start()
        deadline = now() + 10
        while not self.printer_states and now() < deadline:
            time.sleep(0.01)  # connected: the first printer event is replayed from history

    def _follow(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=None)
        conn.request("GET", "/v1/events", headers={"Authorization": f"Bearer {TOKENS['pos']}"})
        resp = conn.getresponse()
        kind = ""
        while not self._sse_stop.is_set():
            line = resp.readline()
            if not line:
                return
            t = now()
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                kind = text[7:]
            elif text.startswith("data: "):
                data = json.loads(text[6:])
                with self._cond:
                    if kind == "receipt" and data.get("state") == "printed":
                        self.printed.setdefault(int(data["receipt_id"]), t)
                    elif kind == "printer":
                        self.printer_states.append((t, data["state"]))
                    self._cond.notify_all()

    def wait_printed(self, receipt_id: int, timeout: float = 30.0) -> float | None:
        deadline = now() + timeout
        with self._cond:
            while receipt_id not in self.printed:
                left = deadline - now()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self.printed[receipt_id]

    def wait_state(self, state: str, after: float, timeout: float = 10.0) -> float | None:
        deadline = now() + timeout
        with self._cond:
            while True:
                for t, s in self.printer_states:
                    if s == state and t >= after:
                        return t
                left = deadline - now()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def stop(self) -> None:
        self._sse_stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class ApiClient:
    """One kept-alive HTTP/1.1 connection to receiptd (what a POS app holds)."""

    def __init__(self, port: int, secret: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        return resp.status, json.loads(payload) if payload else None

    def submit(self, tag: str, order_ref: str | None = None) -> int:
        status, body = self.call("POST", "/v1/printers/front/receipts",
                                 {"document": document(tag), "order_ref": order_ref or tag,
                                  "idempotency_key": tag})
        if status != 202:
            raise RuntimeError(f"submit: HTTP {status}: {body}")
        return int(body["id"])

    def close(self) -> None:
        self.conn.close()


class Direct:
    """The floor: bytes straight to the printer on one kept-alive socket, no journal."""

    def __init__(self, printer: Printer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", printer.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()
        self.pid = 0

    def write(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def write_confirmed(self, data: bytes) -> tuple[float, float]:
        """Write, then a GS ( H process ID; returns (written, confirmed) times."""
        with self.lock:
            self.pid += 1
            pid = f"{self.pid % 10000:04d}".encode()
            self.sock.sendall(data + b"\x1d(H\x06\x0000" + pid)
            written = now()
            want, got = b"\x37\x22" + pid + b"\x00", b""
            while want not in got:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise RuntimeError("printer closed the connection")
                got = got[-64:] + chunk
            return written, now()

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------- statistics

def stats(values: list[float]) -> dict[str, Any]:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"n": 0, "median": None, "p95": None}
    p95 = vals[min(len(vals) - 1, max(0, round(0.95 * len(vals)) - 1))]
    return {"n": len(vals), "median": statistics.median(vals), "p95": p95}


def ms(values: Sequence[float | None]) -> dict[str, Any]:
    if any(v is not None and v < 0 for v in values):
        raise AssertionError(f"negative duration in {values}")
    return stats([v * 1000 for v in values if v is not None])


def since(t0: float, t: float | None) -> float | None:
    """Seconds from `t0` (taken before a submission or a fault) to a printer event at `t`
    (None: it never came). Both are CLOCK_MONOTONIC, and each event is matched to its receipt by
    a tag that printer sees once, so the event cannot come first: if it does, the matching is
    broken and every figure with it is wrong."""
    if t is None:
        return None
    if t < t0:
        raise AssertionError(f"printer event {1000 * (t - t0):.1f} ms before its submission")
    return t - t0


# ---------------------------------------------------------------------------- scenarios

def latency_direct(printer: Printer, n: int, letter: str) -> dict[str, Any]:
    tags, direct = printer.tags(letter), Direct(printer)
    ack, first, cut, confirmed = [], [], [], []
    try:
        for _ in range(n):
            tag = tags.next()
            t0 = now()
            written, conf = direct.write_confirmed(rendered(tag))
            ack.append(since(t0, written))
            confirmed.append(since(t0, conf))
            first.append(since(t0, printer.wait_first_byte(tag)))
            cut.append(since(t0, printer.wait_cut(tag)))
    finally:
        direct.close()
    return {"ack": ms(ack), "first_byte": ms(first), "printed": ms(confirmed), "cut": ms(cut)}


def latency_cups(cups: cups_mod.PrivateCups, printer: Printer, n: int,
                 letter: str) -> dict[str, Any]:
    tags, client = printer.tags(letter), IppClient("127.0.0.1", cups.port, cups.queue)
    ack, first, cut, completed = [], [], [], []
    try:
        for _ in range(n):
            tag = tags.next()
            t0 = now()
            job = client.print_job(rendered(tag), tag)
            ack.append(now() - t0)
            done = None
            while now() - t0 < 30:
                if client.job_state(job) == "completed":
                    done = now()
                    break
                time.sleep(0.002)
            completed.append(since(t0, done))
            first.append(since(t0, printer.wait_first_byte(tag)))
            cut.append(since(t0, printer.wait_cut(tag)))
    finally:
        client.close()
    return {"ack": ms(ack), "first_byte": ms(first), "job_completed": ms(completed),
            "cut": ms(cut)}


def latency_lp(cups: cups_mod.PrivateCups, printer: Printer, n: int, work: Path) -> dict[str, Any]:
    tags = printer.tags("l")
    ack, cut = [], []
    for _ in range(n):
        tag = tags.next()
        path = work / "lp.bin"
        t0 = now()
        path.write_bytes(rendered(tag))
        subprocess.run(["lp", "-h", f"127.0.0.1:{cups.port}", "-d", cups.queue, "-o", "raw",
                        str(path)], check=True, stdout=subprocess.DEVNULL)
        ack.append(now() - t0)
        cut.append(since(t0, printer.wait_cut(tag)))
    return {"ack": ms(ack), "cut": ms(cut)}


def latency_receiptd(daemon: Receiptd, printer: Printer, n: int, letter: str) -> dict[str, Any]:
    tags, client = printer.tags(letter), daemon.connect()
    ack, first, cut, confirmed = [], [], [], []
    try:
        for _ in range(n):
            tag = tags.next()
            t0 = now()
            rid = client.submit(tag)
            ack.append(now() - t0)
            confirmed.append(since(t0, daemon.wait_printed(rid)))
            first.append(since(t0, printer.wait_first_byte(tag)))
            cut.append(since(t0, printer.wait_cut(tag)))
    finally:
        client.close()
    return {"ack": ms(ack), "first_byte": ms(first), "printed": ms(confirmed), "cut": ms(cut)}


def commit_floor(work: Path, n: int) -> dict[str, Any]:
    """One durable SQLite commit (WAL, synchronous=FULL) of a receipt-sized row, same disk."""
    path = work / "commit-floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS r (id INTEGER PRIMARY KEY, body BLOB)")
    out = []
    for _ in range(n):
        blob = os.urandom(1500)
        t0 = now()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO r (body) VALUES (?)", (blob,))
        conn.execute("COMMIT")
        out.append(now() - t0)
    conn.close()
    return ms(out)


def burst(name: str, submit_factory: Callable[[], Callable[[str], None]], tags: Tags,
          printer: Printer, total: int, clients: int, timeout: float,
          pid: int | None = None, children: bool = False) -> dict[str, Any]:
    """`total` receipts from `clients` concurrent clients, as fast as each is answered."""
    per = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    submitters = [submit_factory() for _ in range(clients)]
    cuts0 = printer.cuts
    errors: list[str] = []
    acks: list[float] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(i: int) -> None:
        go.wait()
        for _ in range(per[i]):
            try:
                submitters[i](tags.next())
            except Exception as exc:  # count it, keep going: a refused job is a result
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                acks.append(now())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    sampler = Sampler(pid, children) if pid else None
    t0 = now()
    go.set()
    for t in threads:
        t.join()
    accept_s = now() - t0
    done = printer.wait(lambda: printer.cuts - cuts0 >= len(acks), timeout)
    printed = printer.cuts - cuts0
    print_s = now() - t0
    load = sampler.stop() if sampler else None
    if not done:
        print(f"  {name}: only {printed}/{len(acks)} printed within {timeout:.0f}s", flush=True)
    return {"accepted": len(acks), "refused": len(errors), "errors": errors[:3],
            "accept_s": accept_s, "accept_rate": len(acks) / accept_s,
            "printed": printed, "print_s": print_s, "print_rate": printed / print_s,
            "complete": bool(done), "load": load}


def faults_receiptd(daemon: Receiptd, printer: Printer, reps: int) -> dict[str, Any]:
    tags, client = printer.tags("f"), daemon.connect()
    out: dict[str, list[float | None]] = {k: [] for k in (
        "paper_out_visible", "paper_resume_first_byte", "paper_resume_cut",
        "silent_offline", "silent_resume_first_byte", "silent_resume_cut")}
    try:
        for _ in range(reps):
            for fault, state, clear, key in (("paper_out", "paper_out", "paper_load", "paper"),
                                             ("silent", "offline", "unsilent", "silent")):
                t0 = now()
                printer.control(fault)
                seen = daemon.wait_state(state, t0, 10)
                out["paper_out_visible" if key == "paper" else "silent_offline"].append(
                    since(t0, seen))
                tag = tags.next()
                client.submit(tag)  # held while the fault lasts
                time.sleep(0.3)
                t1 = now()
                printer.control(clear)
                fb, c = printer.wait_first_byte(tag, 15), printer.wait_cut(tag, 15)
                # A first byte before the fault cleared was already on its way (buffered):
                # not a resume time.
                out[f"{key}_resume_first_byte"].append(
                    since(t1, fb) if fb is not None and fb > t1 else None)
                out[f"{key}_resume_cut"].append(since(t1, c))
                daemon.wait_state("online", t1, 10)
                time.sleep(0.5)
    finally:
        client.close()
    return {k: ms(v) | {"missing": sum(1 for x in v if x is None)} for k, v in out.items()}


# What every job shows on a healthy raw socket queue: not a fault.
NORMAL_REASONS = {"none", "cups-waiting-for-job-completed", "connecting-to-device",
                  "cups-remote-pending", "cups-remote-processing"}


def faults_cups(cups: cups_mod.PrivateCups, printer: Printer, reps: int,
                watch_s: float) -> dict[str, Any]:
    """What CUPS shows (Get-Printer-Attributes) when the printer runs out of paper or goes
    silent while a job is sent, measured like receiptd's, and when printing resumes."""
    tags, client = printer.tags("g"), IppClient("127.0.0.1", cups.port, cups.queue)
    result: dict[str, Any] = {}
    try:
        for fault, clear in (("paper_out", "paper_load"), ("silent", "unsilent")):
            visible: list[float | None] = []
            resume: list[float | None] = []
            observed: list[dict[str, Any]] = []
            for _ in range(reps):
                t0 = now()
                printer.control(fault)
                tag = tags.next()
                job = client.print_job(rendered(tag), tag)
                seen, last = None, None
                while now() - t0 < watch_s:
                    st = client.printer_status()
                    if st != last:
                        observed.append({"ms": round((now() - t0) * 1000), **st})
                        last = st
                    if st["state"] == "stopped" or set(st["reasons"]) - NORMAL_REASONS:
                        seen = now() - t0
                        break
                    time.sleep(0.02)
                visible.append(seen)
                t1 = now()
                printer.control(clear)
                resume.append(since(t1, printer.wait_cut(tag, 30)))
                deadline = now() + 30
                while client.job_state(job) != "completed" and now() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
            result[fault] = {"visible": ms(visible) | {"missing": visible.count(None)},
                             "resume_cut": ms(resume), "observed": observed[:8]}
    finally:
        client.close()
    return result


def ready_times(work: Path, printer_url: str, runs: int) -> dict[str, Any]:
    out = []
    for i in range(runs):
        d = Receiptd(work / f"ready-{i}", printer_url)
        try:
            out.append(d.start())
        finally:
            d.stop()
    return ms(out)


def journal_scale(work: Path, printer_url: str, n: int, samples: int) -> dict[str, Any]:
    """Submit and lookup through the HTTP API, empty journal vs one with `n` receipts:
    bench/journal_scale.py (the fill from bench/journal_bench.py), called."""
    import journal_scale as js

    full, empty = work / "scale-full.db", work / "scale-empty.db"
    t = now()
    js.fill(full, n)
    res: dict[str, Any] = {"n": n, "fill_s": now() - t, "size_mb": full.stat().st_size / 1e6}
    res["empty"] = js.measure(empty, 0, printer_url, work, samples, samples)
    res["full"] = js.measure(full, n, printer_url, work, samples, samples)
    for p in work.glob("scale-*"):
        p.unlink()
    return res


# ---------------------------------------------------------------------------- orchestration

@dataclass
class Options:
    latency_n: int = 30
    fast_n: int = 100
    burst: int = 1000
    burst_real: int = 60
    clients: int = 8
    fault_reps: int = 5
    idle_s: float = 10.0
    ready_runs: int = 5
    journal_n: int = 1_000_000
    scale_samples: int = 300
    writes_n: int = 50
    cups: bool = True
    lp_n: int = 10
    vport_n: int | None = None  # the virtual port's samples per path; None = latency_n
    burst_timeout: float = 600.0
    cups_watch_s: float = 5.0
    send_window: int | None = None  # receiptd's send_window_prints; None = its default
    out: Path | None = ROOT / "bench" / "results"
    sections: set[str] = field(default_factory=lambda: {
        "latency", "fast", "burst", "burst_real", "faults", "resources", "vport", "writes",
        "scale"})


@contextmanager
def section(title: str) -> Iterator[None]:
    print(f"== {title}", flush=True)
    t = now()
    yield
    print(f"   ({now() - t:.1f}s)", flush=True)


def run(opt: Options) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="receiptd-bench-"))
    try:
        return _run(opt, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(opt: Options, work: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"machine": machine(), "options": {
        k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
        for k, v in vars(opt).items()}, "speeds_mm_s": {"realistic": REALISTIC_MM_S,
                                                         "fast": FAST_MM_S}}
    use_cups = opt.cups
    if use_cups and (why := cups_mod.available()):
        print(f"CUPS skipped: {why}", flush=True)
        res["cups_skipped"] = why
        use_cups = False
    with ExitStack() as stack:
        p_direct, p_cups, p_rd = (Printer(REALISTIC_MM_S) for _ in range(3))
        for p in (p_direct, p_cups, p_rd):
            stack.callback(p.stop)
        cups = None
        if use_cups:
            cups = cups_mod.PrivateCups(free_port())
            stack.callback(cups.stop)
            cups.start(f"socket://127.0.0.1:{p_cups.port}")
        daemon = Receiptd(work / "daemon", p_rd.url, send_window=opt.send_window)
        stack.callback(daemon.stop)
        res["ready_first_s"] = daemon.start()
        daemon.follow_events()
        daemon.wait_state("online", 0, 10)
        time.sleep(1.0)  # identity and confirmation probe done

        def both(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            r = fn()
            print(f"   {label}: " + ", ".join(
                f"{k} {v['median']:.1f}" for k, v in r.items()
                if isinstance(v, dict) and v.get("median") is not None) + " ms (medians)",
                flush=True)
            return r

        if "latency" in opt.sections or "fast" in opt.sections:
            res["commit_floor"] = commit_floor(work, 50)
        # Tag letters (direct, cups, receiptd): each section its own, on the same printers.
        for key, n, speed, (ld, lc, lr) in (("latency", opt.latency_n, None, "dcr"),
                                            ("fast", opt.fast_n, FAST_MM_S, "uvq")):
            if key not in opt.sections:
                continue
            with section(f"{key}: one receipt at a time, printer at {speed or REALISTIC_MM_S}"
                         " mm/s"):
                if speed:
                    for p in (p_direct, p_cups, p_rd):
                        p.control(f"slow mm_per_s={speed}")
                r: dict[str, Any] = {}
                r["direct"] = both("direct", partial(latency_direct, p_direct, n, ld))
                if cups:
                    r["cups"] = both("cups", partial(latency_cups, cups, p_cups, n, lc))
                    if key == "latency" and opt.lp_n:
                        r["cups_lp"] = both("cups lp", partial(latency_lp, cups, p_cups,
                                                               opt.lp_n, work))
                r["receiptd"] = both("receiptd", partial(latency_receiptd, daemon, p_rd, n, lr))
                res[key] = r
                if speed:
                    for p in (p_direct, p_cups, p_rd):
                        p.control("fast")
        if "resources" in opt.sections:
            with section(f"idle: receiptd for {opt.idle_s:.0f}s with one printer"):
                time.sleep(1.0)
                s = Sampler(daemon.pid)
                time.sleep(opt.idle_s)
                res["idle"] = {"receiptd": s.stop()}
                if cups:
                    s = Sampler(cups.pid, children=True)
                    time.sleep(min(opt.idle_s, 3.0))
                    res["idle"]["cups"] = s.stop()
                print(f"   {res['idle']}", flush=True)
        if "burst" in opt.sections:
            with section(f"burst: {opt.burst} receipts from {opt.clients} clients, printer at "
                         f"{FAST_MM_S:.0f} mm/s"):
                for p in (p_direct, p_cups, p_rd):
                    p.control(f"slow mm_per_s={FAST_MM_S}")
                shared = Direct(p_direct)
                stack.callback(shared.close)
                b: dict[str, Any] = {}
                b["direct"] = burst("direct", lambda: lambda tag: shared.write(rendered(tag)),
                                    p_direct.tags("e"), p_direct, opt.burst, opt.clients,
                                    opt.burst_timeout)
                print(f"   direct: {b['direct']['accept_rate']:.0f}/s accepted, "
                      f"{b['direct']['print_rate']:.0f}/s printed", flush=True)
                if cups:
                    def cups_submitter() -> Callable[[str], None]:
                        c = IppClient("127.0.0.1", cups.port, cups.queue)
                        stack.callback(c.close)

                        def submit(tag: str) -> None:
                            c.print_job(rendered(tag), tag)
                        return submit
                    b["cups"] = burst("cups", cups_submitter, p_cups.tags("h"), p_cups, opt.burst,
                                      opt.clients, opt.burst_timeout, cups.pid, children=True)
                    print(f"   cups: {b['cups']['accept_rate']:.0f}/s accepted, "
                          f"{b['cups']['print_rate']:.1f}/s printed", flush=True)

                def rd_submitter() -> Callable[[str], None]:
                    c = daemon.connect()
                    stack.callback(c.close)

                    def submit(tag: str) -> None:
                        c.submit(tag)
                    return submit
                b["receiptd"] = burst("receiptd", rd_submitter, p_rd.tags("b"), p_rd, opt.burst,
                                      opt.clients, opt.burst_timeout, daemon.pid)
                print(f"   receiptd: {b['receiptd']['accept_rate']:.0f}/s accepted, "
                      f"{b['receiptd']['print_rate']:.1f}/s printed", flush=True)
                res["burst"] = b
                res["rss_hwm_mb"] = status_mb(daemon.pid, "VmHWM")  # the peak so far
                shared.close()  # the printer takes one connection at a time
                for p in (p_direct, p_cups, p_rd):
                    p.control("fast")
        if "burst_real" in opt.sections and opt.burst_real:
            with section(f"burst at {REALISTIC_MM_S:.0f} mm/s: {opt.burst_real} receipts from "
                         f"{opt.clients} clients (the printer is the bottleneck)"):
                shared = Direct(p_direct)
                stack.callback(shared.close)
                br: dict[str, Any] = {"direct": burst(
                    "direct", lambda: lambda tag: shared.write(rendered(tag)), p_direct.tags("k"),
                    p_direct, opt.burst_real, opt.clients, opt.burst_timeout)}
                if cups:
                    def cups_submitter2() -> Callable[[str], None]:
                        c = IppClient("127.0.0.1", cups.port, cups.queue)
                        stack.callback(c.close)

                        def submit(tag: str) -> None:
                            c.print_job(rendered(tag), tag)
                        return submit
                    br["cups"] = burst("cups", cups_submitter2, p_cups.tags("m"), p_cups,
                                       opt.burst_real, opt.clients, opt.burst_timeout)

                def rd_submitter2() -> Callable[[str], None]:
                    c = daemon.connect()
                    stack.callback(c.close)

                    def submit(tag: str) -> None:
                        c.submit(tag)
                    return submit
                br["receiptd"] = burst("receiptd", rd_submitter2, p_rd.tags("n"), p_rd,
                                       opt.burst_real, opt.clients, opt.burst_timeout)
                print("   " + ", ".join(f"{k} {v['print_rate']:.2f}/s printed"
                                        for k, v in br.items()), flush=True)
                res["burst_real"] = br
                shared.close()
        if "faults" in opt.sections:
            with section(f"faults: paper out and silent printer, {opt.fault_reps}x"):
                time.sleep(1.0)
                res["faults"] = {"receiptd": faults_receiptd(daemon, p_rd, opt.fault_reps)}
                if cups:
                    res["faults"]["cups"] = faults_cups(cups, p_cups, max(1, opt.fault_reps // 2),
                                                        opt.cups_watch_s)
        if "resources" in opt.sections:
            res["rss_end_mb"] = rss_mb(daemon.pid)
            with section(f"READY: {opt.ready_runs} fresh starts"):
                res["ready"] = ready_times(work, p_rd.url, opt.ready_runs)
        daemon.stop()
        if "vport" in opt.sections:
            import vport as vport_bench  # imports this module: not at the top

            with section(f"virtual port: last byte to first byte, {opt.latency_n}x per path"):
                res["vport"] = vport_bench.measure(opt.vport_n or opt.latency_n,
                                                   use_cups=use_cups)
        if "writes" in opt.sections:
            import journal_writes

            with section(f"bytes written per receipt over its life, {opt.writes_n}x"):
                res["writes"] = journal_writes.measure(opt.writes_n)
                for name, r in res["writes"].items():
                    print(f"   {name}: {r['total'] / 1024:.0f} KiB = {r['ratio_to_size']}x its "
                          f"size, {r['blocks_4k']:.0f} blocks of 4 KiB", flush=True)
        if "scale" in opt.sections:
            with section(f"journal scale: {opt.journal_n:,} receipts vs empty"):
                p_scale = Printer(FAST_MM_S)
                stack.callback(p_scale.stop)
                res["scale"] = journal_scale(work, p_scale.url, opt.journal_n, opt.scale_samples)
    return res


def machine() -> dict[str, Any]:
    cpu = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N everywhere (a minute or two)")
    ap.add_argument("--no-cups", action="store_true", help="skip CUPS (and its install)")
    ap.add_argument("--only", help="comma-separated sections: latency,fast,burst,burst_real,"
                                   "faults,resources,vport,writes,scale")
    ap.add_argument("--burst", type=int, help="receipts in the burst (default 1000)")
    ap.add_argument("--journal-n", type=int, help="receipts in the big journal (default 1M)")
    ap.add_argument("--out", type=Path, help="results directory (default bench/results)")
    ap.add_argument("--send-window", type=int, metavar="N",
                    help="receiptd's send_window_prints for the printer (default: its default)")
    args = ap.parse_args(argv)
    opt = Options()
    if args.quick:
        opt = Options(latency_n=8, fast_n=20, burst=200, burst_real=10, fault_reps=2, idle_s=3,
                      ready_runs=2, journal_n=50_000, scale_samples=50, lp_n=3, cups_watch_s=3,
                      writes_n=10, vport_n=5)
    opt.cups = not args.no_cups
    if args.only:
        opt.sections = set(args.only.split(","))
    if args.burst:
        opt.burst = args.burst
    if args.journal_n:
        opt.journal_n = args.journal_n
    if args.out:
        opt.out = args.out
    opt.send_window = args.send_window
    if opt.cups:
        cups_mod.ensure_installed()
    res = run(opt)
    import report

    text = report.markdown(res)
    print(text)
    if opt.out:
        opt.out.mkdir(parents=True, exist_ok=True)
        (opt.out / "latest.json").write_text(json.dumps(res, indent=2, default=str))
        (opt.out / "latest.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Torture run: many receipts from concurrent clients while the daemon is SIGKILLed and the
printer power-cycles and runs out of paper at random; then the journal is compared with what
came out of the (emulated) printer.

Used by ``tests/e2e/test_torture.py`` (CI-sized) and ``bench/torture.py`` (the long run). Clients
behave like a real POS: each receipt has an idempotency key, and on a connection error (the
daemon was killed mid-request) or a 503 the client sends the same request again. A ``202``
lost with the connection is fine as long as the retry returns the same receipt.

Verdicts: every accepted receipt is ``printed`` in the journal and came out whole at least
once; no receipt came out unmarked twice (a repeat must carry its REPRINT/COPY marker);
``PRAGMA integrity_check`` is ``ok``.
"""

from __future__ import annotations

import functools
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from receiptd.emulator import Emulator

TOKEN = "torture-pos-secret"
_MARKER = re.compile(r"^\s*(COPY \d+ - original|\*\*\* REPRINT)")
_TAG = re.compile(r"RECEIPT (T\d+)")


@dataclass
class Report:
    seed: int
    receipts: int
    accepted: int = 0
    kills: int = 0
    power_cycles: int = 0
    paper_outs: int = 0
    requests: int = 0
    retries: int = 0
    replayed: int = 0  # retries answered 200 with the receipt a lost 202 had made
    printed: int = 0
    marked_repeats: int = 0
    lost: list[str] = field(default_factory=list)
    unmarked_duplicates: list[str] = field(default_factory=list)
    id_mismatches: list[str] = field(default_factory=list)
    integrity: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.unmarked_duplicates and not self.id_mismatches
                and self.integrity == "ok" and self.accepted == self.receipts)

    def summary(self) -> str:
        return (f"seed={self.seed} receipts={self.receipts} accepted={self.accepted} "
                f"printed={self.printed} kills={self.kills} power_cycles={self.power_cycles} "
                f"paper_outs={self.paper_outs} requests={self.requests} "
                f"retries={self.retries} replayed_202={self.replayed} "
                f"marked_repeats={self.marked_repeats} lost={len(self.lost)} "
                f"unmarked_duplicates={len(self.unmarked_duplicates)} "
                f"integrity={self.integrity} seconds={self.seconds:.1f}")


def document(tag: str, lines: int) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": f"RECEIPT {tag}", "bold": True},
                                    {"type": "rule"}]
    blocks += [{"type": "row", "left": f"Item {i}", "right": f"{i}.00"} for i in range(lines)]
    blocks += [{"type": "row", "left": "TOTAL", "right": f"{tag}"}, {"type": "cut"}]
    return {"blocks": blocks}


class Daemon:
    """``receiptd run`` as a subprocess on a fixed port, restartable after SIGKILL."""

    def __init__(self, workdir: Path, printer_url: str, port: int) -> None:
        self.workdir = workdir
        self.journal = workdir / "journal.db"
        self.url = f"http://127.0.0.1:{port}"
        self.args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
                     str(self.journal), "--listen", f"127.0.0.1:{port}", "--printer",
                     f"front={printer_url}", "--token", f"till:pos:{TOKEN}",
                     "--token", "ops:admin:torture-admin-secret", "--log-format", "json"]
        self.env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(workdir / "escpos")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        with (self.workdir / "daemon.log").open("ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not become healthy")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def run(workdir: Path, *, receipts: int = 120, kills: int = 6, clients: int = 4,
        seed: int | None = None, speed_mm_s: float = 400.0, port: int = 0,
        log: Callable[[str], None] = print, settle_timeout: float = 300.0) -> Report:
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    log(f"torture: seed={seed} receipts={receipts} kills={kills} clients={clients}")
    report = Report(seed=seed, receipts=receipts)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    emu = Emulator(speed_mm_s=speed_mm_s)
    try:
        emu.start_tcp()
        if not port:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        daemon = Daemon(workdir, emu.tcp_url, port)
        daemon.start()
        try:
            ids = _drive(daemon, emu, rng, report, receipts, kills, clients, log,
                         pace_s=clients * 0.12)
            _settle(daemon, emu, ids, settle_timeout)
        finally:
            daemon.terminate()
        _verify(daemon.journal, emu, ids, report)
    finally:
        emu.stop()
    report.seconds = time.monotonic() - started
    log("torture: " + report.summary())
    return report


def _drive(daemon: Daemon, emu: Emulator, rng: random.Random, report: Report, receipts: int,
           kills: int, clients: int, log: Callable[[str], None],
           pace_s: float) -> dict[str, set[int]]:
    work: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    for i in range(receipts):
        tag = f"T{i:05d}"
        work.put((tag, document(tag, rng.randint(3, 20))))
    ids: dict[str, set[int]] = {}
    lock = threading.Lock()
    submitted = [0]
    stop = threading.Event()

    def client(n: int) -> None:
        http = httpx.Client(base_url=daemon.url, timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            while True:
                try:
                    tag, doc = work.get_nowait()
                except queue.Empty:
                    return
                # Paced like tills: submissions span the printing, so kills and faults land
                # on prints in flight rather than on an idle printer with a long queue.
                time.sleep(rng.random() * 2 * pace_s)
                body = {"document": doc, "idempotency_key": f"key-{tag}", "order_ref": tag}
                tries = 0
                while True:
                    tries += 1
                    try:
                        r = http.post("/v1/printers/front/receipts", json=body)
                    except httpx.TransportError:
                        r = None
                    with lock:
                        report.requests += 1
                    if r is not None and r.status_code in (200, 202):
                        with lock:
                            ids.setdefault(tag, set()).add(int(r.json()["id"]))
                            submitted[0] += 1
                            report.accepted += 1
                            report.retries += tries - 1
                            if r.status_code == 200 and tries > 1:
                                report.replayed += 1
                        break
                    if r is not None and r.status_code not in (503,):
                        raise AssertionError(f"{tag}: HTTP {r.status_code} {r.text[:200]}")
                    time.sleep(0.05 + 0.1 * rng.random())
        finally:
            http.close()

    def chaos() -> None:
        thresholds = [receipts * (k + 1) // (kills + 1) for k in range(kills)]
        while not stop.is_set():
            time.sleep(0.05 + rng.random() * 0.4)
            with lock:
                done = submitted[0]
            if thresholds and done >= thresholds[0]:
                thresholds.pop(0)
                time.sleep(rng.random() * 0.3)  # land anywhere in a print
                daemon.kill()
                report.kills += 1
                time.sleep(rng.random() * 0.5)
                daemon.start()
                continue
            roll = rng.random()
            if roll < 0.12:
                emu.power_cycle(off_s=0.2 + rng.random() * 0.6)
                report.power_cycles += 1
            elif roll < 0.24:
                emu.inject("paper_out")
                report.paper_outs += 1
                time.sleep(0.2 + rng.random() * 1.0)
                emu.clear("paper_out")
        while thresholds:  # kills not yet made (few receipts left): make them now
            thresholds.pop(0)
            daemon.kill()
            report.kills += 1
            daemon.start()

    errors: list[BaseException] = []

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def wrapped() -> None:
            try:
                fn()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
        return wrapped

    workers = [threading.Thread(target=guard(functools.partial(client, n)), name=f"client-{n}")
               for n in range(clients)]
    chaos_thread = threading.Thread(target=guard(chaos), name="chaos")
    chaos_thread.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    chaos_thread.join()
    if errors:
        raise errors[0]
    log(f"torture: all {receipts} submitted ({report.retries} retries, "
        f"{report.kills} kills so far)")
    return ids


def _settle(daemon: Daemon, emu: Emulator, ids: dict[str, set[int]], timeout: float) -> None:
    """Faults cleared; wait until no receipt is queued or printing."""
    for fault in ("paper_out",):
        emu.clear(fault)
    http = httpx.Client(base_url=daemon.url, timeout=10,
                        headers={"Authorization": "Bearer torture-admin-secret"})
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            pending = 0
            for state in ("queued", "printing"):
                r = http.get("/v1/receipts", params={"state": state, "limit": 500})
                r.raise_for_status()
                pending += len(r.json()["receipts"])
            if pending == 0:
                return
            time.sleep(0.25)
    finally:
        http.close()
    raise AssertionError(f"receipts still not printed after {timeout}s")


def _verify(journal: Path, emu: Emulator, ids: dict[str, set[int]], report: Report) -> None:
    conn = sqlite3.connect(journal)
    try:
        report.integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        states = dict(conn.execute("SELECT id, state FROM receipts").fetchall())
    finally:
        conn.close()
    unmarked: dict[str, int] = {}
    whole: dict[str, int] = {}
    current: str | None = None
    marker = False
    for slip in emu.transcript.slips():
        marker = False
        current = None
        for entry in slip:
            if entry.get("type") != "text":
                marker = False
                current = None
                continue
            text = entry["text"]
            if _MARKER.match(text):
                marker = True
                continue
            m = _TAG.search(text)
            if m:
                current = m.group(1)
                if marker:
                    report.marked_repeats += 1
                else:
                    unmarked[current] = unmarked.get(current, 0) + 1
                marker = False
            elif current and text.startswith("TOTAL") and text.rstrip().endswith(current):
                whole[current] = whole.get(current, 0) + 1
                current = None
    for tag, found in sorted(ids.items()):
        if len(found) != 1:
            report.id_mismatches.append(f"{tag}: ids {sorted(found)}")
        receipt_id = min(found)
        if states.get(receipt_id) != "printed" or not whole.get(tag):
            report.lost.append(f"{tag} (receipt {receipt_id}: {states.get(receipt_id)}, "
                               f"whole copies on paper {whole.get(tag, 0)})")
        else:
            report.printed += 1
        if unmarked.get(tag, 0) > 1:
            report.unmarked_duplicates.append(f"{tag}: {unmarked[tag]} unmarked")

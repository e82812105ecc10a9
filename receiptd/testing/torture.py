"""Torture run: many receipts from concurrent clients while the daemon is SIGKILLed and the
printer power-cycles and runs out of paper at random; then the journal is compared with what
came out of the (emulated) printer.

Used by ``tests/e2e/test_torture.py`` (CI-sized) and ``bench/torture.py`` (the long run). Clients
behave like a real POS: each receipt has an idempotency key, and on a connection error (the
daemon was killed mid-request) or a 503 the client sends the same request again. A ``202``
lost with the connection is fine as long as the retry returns the same receipt. The tills keep
at most ``backlog`` receipts ahead of the paper, so that kills and faults land on prints in
flight during the whole run, not on an idle printer with a long queue.

Options (``torture_load``, ``torture_hostile``): a share of long receipts (150-250 lines, best
run at a real 250 mm/s), raw receipts from a fuzzer's corpus, and a hostile till replaying the
known attacks (plus forged process-ID replies from the printer's side) and wrong-secret floods.

An operator is part of the run: a receipt ``held`` after ``max_print_attempts`` interrupted
attempts is released the way a cashier would (``POST /v1/receipts/{id}/reprint``), and
counted. A receipt still held at the end counts as lost.

Verdicts: every accepted receipt is ``printed`` in the journal and came out whole at least
once; no receipt came out unmarked twice (a repeat must carry its REPRINT/COPY marker); none
left queued, printing, held or failed; ``PRAGMA integrity_check`` is ``ok``; no worker thread
of the daemon had an error or a restart; a last receipt prints after everything settled.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from receiptd import protocol
from receiptd.emulator import Emulator
from receiptd.testing import torture_hostile, torture_paper
from receiptd.testing.torture_load import Submission, document, load_corpus, plan

TOKEN = "torture-pos-secret"
HOSTILE_TOKEN = "torture-hostile-secret"
ADMIN_TOKEN = "torture-admin-secret"
RETRY_STATUSES = (503,)
#: A till waits at most this long for the paper to catch up before it submits anyway.
STALL_S = 120.0


@dataclass
class Report:
    seed: int
    receipts: int
    long: int = 0
    corpus: int = 0
    corpus_skipped: int = 0  # corpus lines not usable in a receipt (torture_load.usable)
    accepted: int = 0
    kills: int = 0
    power_cycles: int = 0
    paper_outs: int = 0
    forged_replies: int = 0
    requests: int = 0
    retries: int = 0
    replayed: int = 0  # retries answered 200 with the receipt a lost 202 had made
    till_throttled: int = 0  # 429s an honest till got (the flood must not reach them)
    printed: int = 0
    marked_repeats: int = 0
    held_released: int = 0  # releases by the operator (one receipt may need several)
    held_receipts: int = 0  # receipts released at least once
    attacks: dict[str, dict[str, int]] = field(default_factory=dict)  # attack -> outcomes
    attacks_accepted: list[str] = field(default_factory=list)  # must_refuse, accepted
    hostile_printed: int = 0
    unissued_process_ids: int = 0
    worker_errors: int = 0
    worker_restarts: int = 0
    final_state: str = ""
    healthz: int = 0
    probe_printed: bool = False
    rss_mb_end: float = 0.0
    rss_mb_peak: float = 0.0  # the highest VmHWM of a daemon process of the run
    refused: list[str] = field(default_factory=list)  # honest receipts refused
    lost: list[str] = field(default_factory=list)
    unmarked_duplicates: list[str] = field(default_factory=list)
    id_mismatches: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    integrity: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.unmarked_duplicates and not self.id_mismatches
                and not self.stuck and not self.failed and not self.refused
                and self.integrity == "ok" and self.accepted == self.receipts
                and not self.till_throttled and not self.worker_errors
                and not self.worker_restarts and self.healthz == 200 and self.probe_printed)

    def summary(self) -> str:
        attacks = sum(sum(c.values()) for c in self.attacks.values())
        return (f"seed={self.seed} receipts={self.receipts} long={self.long} "
                f"corpus={self.corpus} accepted={self.accepted} printed={self.printed} "
                f"kills={self.kills} power_cycles={self.power_cycles} "
                f"paper_outs={self.paper_outs} forged_replies={self.forged_replies} "
                f"requests={self.requests} retries={self.retries} replayed_202={self.replayed} "
                f"marked_repeats={self.marked_repeats} held_released={self.held_released} "
                f"attacks={attacks} attacks_accepted={len(self.attacks_accepted)} "
                f"lost={len(self.lost)} unmarked_duplicates={len(self.unmarked_duplicates)} "
                f"stuck={len(self.stuck)} failed={len(self.failed)} "
                f"worker_errors={self.worker_errors} rss_mb_end={self.rss_mb_end:.1f} "
                f"integrity={self.integrity} seconds={self.seconds:.1f}")


class Daemon:
    """``receiptd run`` as a subprocess on a fixed port, restartable after SIGKILL."""

    def __init__(self, workdir: Path, printer_url: str, port: int) -> None:
        self.workdir = workdir
        self.journal = workdir / "journal.db"
        self.url = f"http://127.0.0.1:{port}"
        self.args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
                     str(self.journal), "--listen", f"127.0.0.1:{port}", "--printer",
                     f"front={printer_url}", "--token", f"till:pos:{TOKEN}",
                     "--token", f"hostile:pos:{HOSTILE_TOKEN}",
                     "--token", f"ops:admin:{ADMIN_TOKEN}", "--log-format", "json"]
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

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the running daemon, in MB; zeros if it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0, 0.0
        values = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)

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


def _admin(daemon: Daemon) -> httpx.Client:
    return httpx.Client(base_url=daemon.url, timeout=10,
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


class PaperCount:
    """Closing (``TOTAL``) lines seen on the paper so far, counted as the emulator prints:
    how far the paper is behind the tills."""

    def __init__(self, emu: Emulator) -> None:
        self.lock = threading.Lock()
        self.totals = 0
        emu.subscribe(self._entry)

    def _entry(self, entry: dict[str, Any]) -> None:
        if entry.get("type") == "text" and str(entry.get("text", "")).startswith("TOTAL"):
            with self.lock:
                self.totals += 1

    def value(self) -> int:
        with self.lock:
            return self.totals


def run(workdir: Path, *, receipts: int = 120, kills: int = 6, clients: int = 4,
        seed: int | None = None, speed_mm_s: float = 400.0, port: int = 0,
        log: Callable[[str], None] = print, settle_timeout: float = 300.0,
        long_share: float = 0.0, corpus: Path | None = None, corpus_share: float = 0.2,
        attacks: int = 0, flood_tries: int = 300, fault_every_s: float = 3.0,
        backlog: int = 8) -> Report:
    """One torture run; ``attacks`` is the number of rounds of the hostile till (each round
    every attack once and a ``flood_tries / attacks`` burst of wrong secrets)."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    log(f"torture: seed={seed} receipts={receipts} kills={kills} clients={clients} "
        f"long_share={long_share} corpus={corpus} attacks={attacks}")
    report = Report(seed=seed, receipts=receipts)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    bodies: list[bytes] = []
    if corpus is not None:
        bodies, report.corpus_skipped = load_corpus(corpus)
    work = plan(rng, receipts, long_share=long_share, corpus=bodies,
                corpus_share=corpus_share if bodies else 0.0)
    report.long = sum(s.kind == "long" for s in work)
    report.corpus = sum(s.kind == "corpus" for s in work)
    emu = Emulator(speed_mm_s=speed_mm_s)
    try:
        emu.start_tcp()
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        daemon = Daemon(workdir, emu.tcp_url, port)
        daemon.start()
        try:
            run_ = _Run(daemon, emu, rng, report, work, log)
            run_.drive(kills, clients, attacks, flood_tries, fault_every_s, backlog)
            run_.settle(settle_timeout)
            run_.final()
        finally:
            daemon.terminate()
        _verify(daemon.journal, emu, run_, report)
    finally:
        emu.stop()
    report.seconds = time.monotonic() - started
    log("torture: " + report.summary())
    return report


class _Run:
    """The threads of one run: tills, hostile till, chaos and operator, and what they saw."""

    def __init__(self, daemon: Daemon, emu: Emulator, rng: random.Random, report: Report,
                 work: list[Submission], log: Callable[[str], None]) -> None:
        self.daemon, self.emu, self.rng, self.report, self.log = daemon, emu, rng, report, log
        self.work = work
        self.ids: dict[str, set[int]] = {}  # tag -> receipt ids answered (tills)
        self.hostile_ids: dict[str, set[int]] = {}  # tag -> receipt id (accepted attacks)
        self.released: set[int] = set()
        self.lock = threading.Lock()
        self.submitted = 0
        self.stop = threading.Event()
        self.paper = PaperCount(emu)
        self.key_id: str | None = None
        self.outcomes: dict[str, Counter[str]] = {}  # attack -> answers, by status and code

    # -- the tills -----------------------------------------------------------------------------

    def till(self, work: queue.Queue[Submission], backlog: int) -> None:
        http = httpx.Client(base_url=self.daemon.url, timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            while True:
                try:
                    sub = work.get_nowait()
                except queue.Empty:
                    return
                # Paced like tills: at most ``backlog`` receipts ahead of the paper.
                # (A paper that stands still for minutes is the verdicts' business.)
                waited = time.monotonic() + STALL_S
                while time.monotonic() < waited:
                    with self.lock:
                        ahead = self.submitted - self.paper.value()
                    if ahead < backlog:
                        break
                    time.sleep(0.05)
                time.sleep(self.rng.random() * 0.3)
                self.submit(http, sub)
        finally:
            http.close()

    def submit(self, http: httpx.Client, sub: Submission) -> None:
        body = {**sub.body, "idempotency_key": f"key-{sub.tag}", "order_ref": sub.tag}
        tries = 0
        report = self.report
        while True:
            tries += 1
            try:
                r: httpx.Response | None = http.post("/v1/printers/front/receipts", json=body)
            except httpx.TransportError:
                r = None
            with self.lock:
                report.requests += 1
            if r is not None and r.status_code in (200, 202):
                with self.lock:
                    self.ids.setdefault(sub.tag, set()).add(int(r.json()["id"]))
                    self.submitted += 1
                    report.accepted += 1
                    report.retries += tries - 1
                    if r.status_code == 200 and tries > 1:
                        report.replayed += 1
                return
            if r is not None and r.status_code == 429:
                with self.lock:
                    report.till_throttled += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            if r is not None and r.status_code not in RETRY_STATUSES:
                with self.lock:
                    report.refused.append(f"{sub.tag} ({sub.kind}): HTTP {r.status_code} "
                                          f"{r.text[:200]}")
                    self.submitted += 1
                return
            time.sleep(0.05 + 0.1 * self.rng.random())

    # -- the hostile till ---------------------------------------------------------------------

    def make_flood_target(self) -> None:
        """A stored ``pos`` token, whose key id the flood's secrets carry."""
        with _admin(self.daemon) as http:
            r = http.post("/v1/tokens", json={"name": "till-stored", "role": "pos"})
            r.raise_for_status()
            self.key_id = str(r.json()["secret"]).split("_")[1]

    def hostile(self, rounds: int, flood_tries: int) -> None:
        receipts = len(self.work)
        plan: list[tuple[int, str]] = []
        for _ in range(rounds):
            plan += [(self.rng.randrange(receipts), a.name) for a in torture_hostile.ATTACKS]
            plan.append((self.rng.randrange(receipts), torture_hostile.FLOOD))
        plan.sort()
        attacks = {a.name: a for a in torture_hostile.ATTACKS}
        burst = max(1, flood_tries // max(1, rounds))
        http = httpx.Client(base_url=self.daemon.url, timeout=30,
                            headers={"Authorization": f"Bearer {HOSTILE_TOKEN}"})
        n = 0
        try:
            for at, name in plan:
                while not self.stop.is_set():
                    with self.lock:
                        if self.submitted >= at:
                            break
                    time.sleep(0.1)
                counts = self.outcomes.setdefault(name, Counter())
                if name == torture_hostile.FLOOD:
                    torture_hostile.flood(http, self.rng, burst, self.key_id, counts)
                    continue
                tag = f"H{n:05d}"
                n += 1
                self.attack(http, attacks[name], tag, counts)
        finally:
            http.close()

    def attack(self, http: httpx.Client, attack: torture_hostile.Attack, tag: str,
               counts: Counter[str]) -> None:
        body = {**attack.body(tag), "idempotency_key": f"key-{tag}", "order_ref": tag}
        for _ in range(100):  # through kills and restarts, as the honest tills do
            try:
                r: httpx.Response | None = http.post("/v1/printers/front/receipts", json=body)
            except httpx.TransportError:
                r = None
            if r is None or r.status_code in RETRY_STATUSES:
                time.sleep(0.1)
                continue
            counts[torture_hostile.outcome(r)] += 1
            if r.status_code in (200, 202):
                with self.lock:
                    self.hostile_ids.setdefault(tag, set()).add(int(r.json()["id"]))
                    if attack.must_refuse:
                        self.report.attacks_accepted.append(f"{attack.name} ({tag})")
            return
        counts["no_answer"] += 1

    def forged_replies(self) -> None:
        """What a smuggled ``GS ( H`` would make the printer send: process-ID replies the
        daemon never issued (guessed as counters and at random)."""
        base = self.rng.randrange(1, 10_000)
        pids = [protocol.encode_pid(base + k) for k in range(10)]
        pids += ["".join(chr(self.rng.randrange(0x21, 0x7F)) for _ in range(4))
                 for _ in range(10)]
        self.emu.inject("garbage", data=b"".join(b"\x37\x22" + p.encode() + b"\x00"
                                                 for p in pids))
        self.report.forged_replies += 1

    # -- chaos and the operator ----------------------------------------------------------------

    def sample_daemon(self) -> None:
        """Before a daemon dies, what its workers and link counted during its life."""
        hwm = self.daemon.memory_mb()[1]
        self.report.rss_mb_peak = max(self.report.rss_mb_peak, hwm)
        try:
            with _admin(self.daemon) as http:
                r = http.get("/v1/printers/front", timeout=3)
            health = r.json()
        except (httpx.HTTPError, ValueError):
            return
        for worker in health.get("workers", {}).values():
            self.report.worker_errors += int(worker.get("errors", 0))
            self.report.worker_restarts += int(worker.get("restarts", 0))
        self.report.unissued_process_ids += int(
            health.get("link_counters", {}).get("unissued_process_ids", 0))

    def chaos(self, kills: int, fault_every_s: float, forged: bool) -> None:
        report, rng, receipts = self.report, self.rng, len(self.work)
        thresholds = [receipts * (k + 1) // (kills + 1) for k in range(kills)]
        faults = ["power_cycle", "paper_out"] + (["forged_replies"] if forged else [])
        while not self.stop.is_set():
            tick = 0.05 + rng.random() * 0.4
            time.sleep(tick)
            with self.lock:
                done = self.submitted
            if thresholds and done >= thresholds[0]:
                thresholds.pop(0)
                time.sleep(rng.random() * 0.3)  # land anywhere in a print
                self.kill_and_restart(rng.random() * 0.5)
                continue
            if rng.random() >= tick / fault_every_s:
                continue
            fault = rng.choice(faults)
            if fault == "power_cycle":
                self.emu.power_cycle(off_s=0.2 + rng.random() * 0.6)
                report.power_cycles += 1
            elif fault == "paper_out":
                self.emu.inject("paper_out")
                report.paper_outs += 1
                time.sleep(0.2 + rng.random() * 1.0)
                self.emu.clear("paper_out")
            else:
                self.forged_replies()
        while thresholds:  # kills not yet made (few receipts left): make them now
            thresholds.pop(0)
            self.kill_and_restart(0.0)

    def kill_and_restart(self, down_s: float) -> None:
        self.sample_daemon()
        self.daemon.kill()
        self.report.kills += 1
        time.sleep(down_s)
        self.daemon.start()

    def release_held(self) -> None:
        """The operator: a held receipt is released as a cashier would, with a reprint."""
        try:
            with _admin(self.daemon) as http:
                r = http.get("/v1/receipts", params={"state": "held", "limit": 500})
                r.raise_for_status()
                for receipt in r.json()["receipts"]:
                    rr = http.post(f"/v1/receipts/{receipt['id']}/reprint",
                                   json={"reason": "torture operator: printer checked"})
                    if rr.status_code == 202:
                        self.report.held_released += 1
                        self.released.add(int(receipt["id"]))
        except httpx.HTTPError:
            pass  # the daemon is down (a kill): next time

    def operator(self) -> None:
        while not self.stop.wait(2.0):
            self.release_held()

    # -- the run -------------------------------------------------------------------------------

    def drive(self, kills: int, clients: int, attacks: int, flood_tries: int,
              fault_every_s: float, backlog: int) -> None:
        work: queue.Queue[Submission] = queue.Queue()
        for sub in self.work:
            work.put(sub)
        if attacks:
            self.make_flood_target()
        errors: list[BaseException] = []

        def guard(fn: Callable[[], None]) -> Callable[[], None]:
            def wrapped() -> None:
                try:
                    fn()
                except BaseException as exc:  # surfaced below
                    errors.append(exc)
            return wrapped

        tills = [threading.Thread(target=guard(functools.partial(self.till, work, backlog)),
                                  name=f"till-{n}") for n in range(clients)]
        helpers = [threading.Thread(target=guard(functools.partial(
            self.chaos, kills, fault_every_s, bool(attacks))), name="chaos"),
            threading.Thread(target=guard(self.operator), name="operator")]
        if attacks:
            tills.append(threading.Thread(target=guard(functools.partial(
                self.hostile, attacks, flood_tries)), name="hostile"))
        for t in helpers + tills:
            t.start()
        for t in tills:
            t.join()
        self.stop.set()
        for t in helpers:
            t.join()
        if errors:
            raise errors[0]
        self.log(f"torture: all {len(self.work)} submitted ({self.report.retries} retries, "
                 f"{self.report.kills} kills)")

    def settle(self, timeout: float) -> None:
        """Faults cleared; the operator releases what is held; wait until no receipt is
        queued, printing or held."""
        self.emu.clear("paper_out")
        deadline = time.monotonic() + timeout
        with _admin(self.daemon) as http:
            while time.monotonic() < deadline:
                pending = 0
                for state in ("queued", "printing", "held"):
                    r = http.get("/v1/receipts", params={"state": state, "limit": 500})
                    r.raise_for_status()
                    pending += len(r.json()["receipts"])
                if pending == 0:
                    return
                self.release_held()
                time.sleep(0.5)
        self.log(f"torture: receipts still not printed after {timeout}s")

    def final(self) -> None:
        """The daemon after it all: alive, its workers without error, a last receipt
        prints; its memory."""
        report = self.report
        report.healthz = httpx.get(f"{self.daemon.url}/healthz", timeout=10).status_code
        with httpx.Client(base_url=self.daemon.url, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            r = http.post("/v1/printers/front/receipts",
                          json={"document": document("P00000", 3)})
            if r.status_code == 202:
                receipt_id = int(r.json()["id"])
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    state = http.get(f"/v1/receipts/{receipt_id}").json()["state"]
                    if state == "printed":
                        report.probe_printed = True
                        break
                    time.sleep(0.2)
        with _admin(self.daemon) as admin:
            report.final_state = str(admin.get("/v1/printers/front").json()["state"])
        self.sample_daemon()
        report.rss_mb_end = self.daemon.memory_mb()[0]
        report.held_receipts = len(self.released)
        report.attacks = {name: dict(c.most_common()) for name, c in self.outcomes.items()}


def _verify(journal: Path, emu: Emulator, run: _Run, report: Report) -> None:
    conn = sqlite3.connect(journal)
    try:
        report.integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        states = dict(conn.execute("SELECT id, state FROM receipts").fetchall())
    finally:
        conn.close()
    slips = emu.transcript.slips()
    # The paper stays with the journal and the daemon's log: a finding can be read back.
    (run.daemon.workdir / "paper.json").write_text(json.dumps(slips))
    paper = torture_paper.read(slips)
    report.marked_repeats = paper.marked
    for tag, found in sorted({**run.ids, **run.hostile_ids}.items()):
        if len(found) != 1:
            report.id_mismatches.append(f"{tag}: ids {sorted(found)}")
        receipt_id = min(found)
        state = states.get(receipt_id)
        if state in ("queued", "printing", "held"):
            report.stuck.append(f"{tag} (receipt {receipt_id}: {state})")
        elif state == "failed":
            report.failed.append(f"{tag} (receipt {receipt_id})")
        if state != "printed" or not paper.whole[tag]:
            report.lost.append(f"{tag} (receipt {receipt_id}: {state}, "
                               f"whole copies on paper {paper.whole[tag]})")
        elif tag.startswith("H"):
            report.hostile_printed += 1
        else:
            report.printed += 1
        if paper.unmarked[tag] > 1:
            report.unmarked_duplicates.append(
                f"{tag} (receipt {receipt_id}): {paper.unmarked[tag]} unmarked; before each: "
                + " || ".join(" | ".join(b) for b in paper.before[tag]))

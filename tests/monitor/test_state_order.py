"""One door per printer state: changes noticed on several threads at once reach the journal,
the SSE stream and the metrics in one order, the order of their sequence numbers."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon
from receiptd.emulator import Emulator
from receiptd.journal import Journal
from receiptd.printer import PrinterState

from ..support import wait_until

FAULTS = (PrinterState.PAPER_OUT, PrinterState.COVER_OPEN)
ROUNDS = 60


def _race(daemon: Daemon, printer: str) -> None:
    """Two threads (say a spooler whose write failed and the API's recover) report changes
    at the same moment, while the session thread reports what the emulator says."""
    session = daemon.sessions[printer]
    start = threading.Barrier(2)

    def report(fault: PrinterState) -> None:
        start.wait()
        for _ in range(ROUNDS):
            session._transition(fault, f"test: {fault.value}")  # the one door, as any thread
            session._transition(PrinterState.ONLINE, "test: back")

    threads = [threading.Thread(target=report, args=(f,)) for f in FAULTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_changes_share_one_order(tmp_path: Path, emulator: Emulator) -> None:
    port = emulator.start_tcp()
    config = load_config(journal=tmp_path / "journal.db",
                         printers=[f"front=tcp://127.0.0.1:{port}"])
    daemon = Daemon(config)
    daemon.open_journal()
    daemon.start_workers()
    session = daemon.sessions["front"]
    try:
        wait_until(session.is_ready, what="printer online")
        _race(daemon, "front")
        wait_until(lambda: _sse(daemon) and _sse(daemon)[-1]["seq"] == session.board.seq,
                   what="every change published")
        # The metric follows each published change on the reporter's thread.
        counts = {f.value: sum(1 for e in _sse(daemon) if e["state"] == f.value) for f in FAULTS}
        wait_until(lambda: all(_fault_metric(daemon, state) == n for state, n in counts.items()),
                   what=f"fault metrics {counts}")
    finally:
        daemon.stop_workers()

    with Journal(tmp_path / "journal.db") as journal:
        rows = list(reversed(journal.events.list("front", limit=1000)))
    sse = _sse(daemon)

    seqs = [row.seq for row in rows]
    assert seqs == list(range(1, len(rows) + 1)), "journal rows in sequence order, no gaps"
    assert len(rows) >= 2 * ROUNDS
    assert [e["seq"] for e in sse] == seqs[-len(sse):], "SSE order is the journal's order"
    assert [e["state"] for e in sse] == [row.state for row in rows][-len(sse):]
    # Each change starts where the one before it ended: recorded out of order, it would not.
    for before, after in itertools.pairwise(rows):
        assert after.previous == before.state, (before, after)
    for state, n in counts.items():
        assert n == sum(1 for row in rows if row.state == state)


def _sse(daemon: Daemon) -> list[dict[str, Any]]:
    return [e.data for e in daemon.bus.recent() if e.type == "printer"]


def _fault_metric(daemon: Daemon, state: str) -> float:
    scraped = daemon.metrics().decode()
    line = f'receiptd_printer_faults_total{{printer="front",state="{state}"}} '
    found = [ln for ln in scraped.splitlines() if ln.startswith(line)]
    return float(found[0][len(line):]) if found else 0.0


def test_sequence_numbers_go_on_after_a_restart(tmp_path: Path, emulator: Emulator) -> None:
    port = emulator.start_tcp()
    config = load_config(journal=tmp_path / "journal.db",
                         printers=[f"front=tcp://127.0.0.1:{port}"])
    seen: list[int] = []
    for _ in range(2):
        daemon = Daemon(config)
        daemon.open_journal()
        daemon.start_workers()
        try:
            wait_until(lambda d=daemon: d.sessions["front"].is_ready(), what="printer online")
        finally:
            daemon.stop_workers()
        with Journal(tmp_path / "journal.db") as journal:
            seen = [row.seq for row in reversed(journal.events.list("front", limit=1000))]
    assert len(seen) >= 4  # unknown → online → unknown, twice
    assert seen == list(range(1, len(seen) + 1))

"""The state reporter when the journal cannot take a write: the change is still published at
once (SSE, metrics), and journaled, in sequence order, as soon as the journal takes writes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon
from receiptd.journal import Journal
from receiptd.links import link_for_url
from receiptd.monitor.reporter import StateReporter
from receiptd.printer import PrinterSession, PrinterState

from ..support import wait_until


def test_a_locked_journal_delays_the_row_not_the_event(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal(path).close()  # created and migrated
    daemon = Daemon(load_config(journal=path, printers=["front=tcp://127.0.0.1:9"]))
    session = PrinterSession("front", link_for_url("tcp://127.0.0.1:9"))  # never started
    reporter = StateReporter(
        "front", session.changes, lambda: Journal(path, busy_timeout=0.2),
        bus=daemon.bus, health=daemon.health, metrics=daemon.metrics_registry,
        notify_status=lambda: None,
    )
    thread = threading.Thread(target=reporter.run)
    thread.start()
    # Another writer holds the database: every write of the reporter times out (SQLITE_BUSY).
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        session.board.change(PrinterState.PAPER_OUT, "paper end")
        session.board.change(PrinterState.ONLINE, "status ok")
        events = lambda: [e.data for e in daemon.bus.recent() if e.type == "printer"]  # noqa: E731
        wait_until(lambda: len(events()) == 2, what="both changes published")
        assert [(e["seq"], e["state"]) for e in events()] == [(1, "paper_out"), (2, "online")]
        with Journal(path) as reader:  # WAL: reading goes on while the writer waits
            assert reader.events.list("front") == []
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    try:
        def journaled() -> list[tuple[int | None, str]]:
            with Journal(path) as reader:
                return [(e.seq, e.state) for e in reversed(reader.events.list("front"))]

        wait_until(lambda: journaled() == [(1, "paper_out"), (2, "online")],
                   what="the backlog journaled in order once the lock is gone")
    finally:
        reporter.stop()
        thread.join(10)
    assert not thread.is_alive()

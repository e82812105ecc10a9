"""The journal's disk fails while the daemon runs, against the real daemon and a real SQLite
file: the answers are 503 ``journal_unavailable`` (retry, nothing accepted), never a 500."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

import pytest

from receiptd.emulator import Emulator

from ..support import DaemonProcess

pytestmark = pytest.mark.timeout(180)


def test_pages_lost_under_the_running_daemon_answer_503_not_500(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """A failing SD card loses the file's tail: SQLite reads zeros where pages were and calls
    it damage. The file passed its check when the daemon opened it, so this is the disk
    failing under a running daemon: 503, which clients retry, not 500 journal_corrupt."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    ids = [daemon.submit({"text": f"receipt {i}\n" + "x" * 2000, "order_ref": f"o-{i}"})["id"]
           for i in range(200)]
    daemon.wait_printed(ids[-1], timeout=60)
    with sqlite3.connect(daemon.journal) as db:  # every page into the main file first
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    assert daemon.journal.stat().st_size > 64 * 4096
    os.truncate(daemon.journal, 4 * 4096)

    asked = {
        "receipt": daemon.clients["pos"].get(f"/v1/receipts/{ids[150]}"),
        "order": daemon.clients["pos"].get("/v1/orders/o-150"),
        "search": daemon.clients["cashier"].get("/v1/receipts", params={"limit": 500}),
    }
    for what, r in asked.items():
        assert r.status_code == 503, (what, r.status_code, r.text[:300])
        assert r.json()["error"]["code"] == "journal_unavailable", (what, r.text[:300])
        assert "journal" in r.json()["error"]["message"]
    assert daemon.clients["pos"].get("/healthz").status_code == 200

"""Start → READY does not wait for the journal's full integrity check (receiptd/daemon/serve.py).

On a real journal of 200,000 receipts the daemon sends READY=1 and answers ``/healthz`` while
the check has not read a page: the test hook holds the check at its start until SIGUSR1, so the
order is proven without a clock. A page damaged after READY is then found by the background
check: ``/healthz`` and every write answer 503 ``journal_corrupt``, the receipts accepted before
are kept (and printed), and the log, the metrics and the STATUS line say so.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiptd.emulator import Emulator
from receiptd.journal import Journal, format_ts

from ..support import TOKENS, DaemonProcess, sample_document, wait_until

pytestmark = pytest.mark.timeout(300)

Factory = Callable[..., DaemonProcess]
HOLD = {"RECEIPTD_TEST_HOOKS": "1", "RECEIPTD_TEST_HOLD_CHECK": "1"}
RECEIPTS = 200_000


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(0)
        yield sock, address


def _received(sock: socket.socket) -> list[str]:
    """Every datagram already waiting (the daemon sent them before we look)."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def fill(path: Path, n: int) -> None:
    """A journal of ``n`` printed receipts, written in bulk (the API would take an hour)."""
    with Journal(path) as journal:  # creates and migrates the schema
        conn = journal.conn
        t0 = datetime.now(UTC) - timedelta(hours=1)
        rows = [(i, format_ts(t0 + timedelta(milliseconds=i // 100))) for i in range(1, n + 1)]
        content = json.dumps({"document": sample_document("bulk")})
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO receipts (id, printer, state, kind, profile, request_hash, "
            "idempotency_key, order_ref, submitted_by, created_at, printed_at, paper_mm) "
            "VALUES (?1, 'front', 'printed', 'document', 'TM-T88V', 'h' || ?1, 'k-' || ?1, "
            "'o-' || ?1, 'pos', ?2, ?2, 80.0)", rows)
        conn.executemany(
            "INSERT INTO receipt_bodies (receipt_id, content, rendered) VALUES (?, ?, ?)",
            ((i, content, b"\x1b@" + bytes(200)) for i, _ in rows))
        conn.executemany(
            "INSERT INTO prints (id, receipt_id, printer, kind, state, attempt, created_at, "
            "sent_at, finished_at, outcome, confirmation) VALUES (?1, ?1, 'front', "
            "'original', 'printed', 1, ?2, ?2, ?2, 'confirmed by process id', 'process_id')",
            rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def leaf_page(path: Path, table: str) -> tuple[int, int]:
    """(page number, page size) of a leaf page in the middle of ``table``: old rows the
    running daemon never reads or writes."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        pages = [r[0] for r in db.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,))]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    assert len(pages) > 100, pages
    return pages[len(pages) // 2], size


def metric(d: DaemonProcess, line: str) -> bool:
    text = d.clients["admin"].get("/metrics").text
    return line in text.splitlines()


def log_events(d: DaemonProcess, name: str) -> list[dict[str, Any]]:
    out = []
    for line in d.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == name:
            out.append(entry)
    return out


def test_ready_before_the_check_and_damage_found_after_it_stops_accepting(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path,
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, address = notify_socket
    journal = tmp_path / "journal.db"  # the file DaemonProcess runs on
    fill(journal, RECEIPTS)
    page, page_size = leaf_page(journal, "receipt_bodies")

    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"},
                       extra_env={**HOLD, "NOTIFY_SOCKET": address})
    assert d.proc is not None
    # READY was sent and /healthz answers while the check is held before its first page.
    assert "READY=1" in "\n".join(_received(sock)).splitlines()
    assert d.clients["pos"].get("/healthz").json()["status"] == "ok"
    wait_until(lambda: log_events(d, "test_hook_check_held"), what="the check held")
    assert not log_events(d, "journal_check_started")
    assert metric(d, 'receiptd_journal_check_state{state="pending"} 1.0')

    accepted = [d.submit({"document": sample_document(f"R{i}")})["id"] for i in range(3)]
    for receipt_id in accepted:
        d.wait_printed(receipt_id)

    with journal.open("r+b") as fh:  # the disk loses a page the daemon is not using
        fh.seek((page - 1) * page_size)
        fh.write(b"\xa5" * 64)
        fh.flush()
    d.proc.send_signal(signal.SIGUSR1)  # let the check run

    def damaged() -> Any:
        r = d.clients["pos"].get("/healthz")
        return r if r.status_code == 503 else None

    health = wait_until(damaged, timeout=120, what="/healthz to report the damage").json()
    assert health["status"] == "error"
    assert health["error"]["code"] == "journal_corrupt"
    assert "receipt_bodies" in health["error"]["message"]
    assert "journal-check" in health["error"]["message"]

    # Nothing new is accepted, with the same stable code; reads still answer.
    r = d.clients["pos"].post("/v1/printers/front/receipts",
                              json={"document": sample_document("AFTER")})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "journal_corrupt"
    assert "accepts nothing new" in r.json()["error"]["message"]
    for receipt_id in accepted:
        assert d.receipt(receipt_id)["state"] == "printed"

    [event] = log_events(d, "journal_check")
    assert event["result"] == "damaged" and event["code"] == "journal_corrupt"
    assert event["level"] == "error" and event["problems"]
    assert metric(d, 'receiptd_journal_check_state{state="damaged"} 1.0')
    wait_until(lambda: any("STATUS=JOURNAL DAMAGED" in m for m in _received(sock)),
               timeout=10, what="the STATUS line to say so")
    background = d.clients["admin"].get("/v1/system").json()["journal"]["background_check"]
    assert background["state"] == "damaged" and background["code"] == "journal_corrupt"
    assert background["problems"]
    doctor = subprocess.run(
        [sys.executable, "-m", "receiptd.cli.ctl", "--url", d.url, "--token", TOKENS["admin"],
         "doctor", "--json", "--no-print"], capture_output=True, text=True, timeout=120)
    findings = json.loads(doctor.stdout)["findings"]
    [step] = [f for f in findings if f["step"] == "journal"]
    assert step["result"] == "fail" and "journal-check" in step["action"], step
    assert doctor.returncode == 2

    assert d.terminate() == 0
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        kept = {row[0]: row[1] for row in db.execute(
            f"SELECT id, state FROM receipts WHERE id IN ({','.join('?' * len(accepted))})",
            accepted)}
    assert kept == dict.fromkeys(accepted, "printed"), "an accepted receipt was lost"


def test_a_healthy_journal_checks_ok_in_the_background(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path,
) -> None:
    fill(tmp_path / "journal.db", 2_000)
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"})
    wait_until(lambda: log_events(d, "journal_check"), timeout=60, what="the check's report")
    [event] = log_events(d, "journal_check")
    assert event["result"] == "ok", event
    assert metric(d, 'receiptd_journal_check_state{state="ok"} 1.0')
    assert metric(d, "receiptd_journal_check_problems 0.0")
    background = d.clients["admin"].get("/v1/system").json()["journal"]["background_check"]
    assert background["state"] == "ok" and background["problems"] == []
    assert d.clients["pos"].get("/healthz").status_code == 200
    d.wait_printed(d.submit({"document": sample_document("OK")})["id"])


def test_a_journal_upgrade_asks_systemd_for_time_and_says_so(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path,
    notify_socket: tuple[socket.socket, str],
) -> None:
    """A journal of the schema before the kept state counts is upgraded before READY, which
    reads its receipts once: the daemon asks systemd for more start time first
    (EXTEND_TIMEOUT_USEC), says why in STATUS and the log, and the counts are right after."""
    from sqlite_utils import Database

    from receiptd.journal import migrations

    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path, isolation_level=None)
    previous = migrations.MIGRATIONS[:-1]
    migrations.migrate(Database(conn), applied_at="t", migrations=previous)
    for i in range(5):
        rid = conn.execute(
            "INSERT INTO receipts (printer, state, kind, profile, request_hash, created_at) "
            "VALUES ('front', 'printed', 'text', 'TM-T88V', 'h', ?)",
            (format_ts(datetime.now(UTC) - timedelta(seconds=i)),)).lastrowid
        conn.execute("INSERT INTO receipt_bodies (receipt_id, content, rendered) "
                     "VALUES (?, '{\"text\": \"x\"}', x'1b40')", (rid,))
    conn.close()
    sock, address = notify_socket
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"},
                       extra_env={"NOTIFY_SOCKET": address})
    said = "\n".join(_received(sock)).splitlines()
    assert "READY=1" in said
    extend = [line for line in said if line.startswith("EXTEND_TIMEOUT_USEC=")]
    assert extend and said.index(extend[0]) < said.index("READY=1"), said
    assert any(line.startswith("STATUS=upgrading the journal from schema version "
                               f"{migrations.latest_version() - 1}") for line in said), said
    [event] = log_events(d, "journal_upgrade")
    assert event["to_version"] == migrations.latest_version()
    stats = d.clients["admin"].get("/v1/journal/stats").json()
    assert stats["receipts"]["printed"] == 5

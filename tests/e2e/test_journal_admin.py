"""Retention and journal maintenance through the real daemon: purge in the background and on
demand (only printed receipts past the limit go, submissions keep flowing), stats, the full
integrity check and the online backup, over HTTP and through ``receiptctl``."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiptd.cli import ctl
from receiptd.emulator import Emulator
from receiptd.journal import format_ts
from receiptd.testing.loopback import free_port  # a port nothing listens on: a dead printer

from ..support import TOKENS, DaemonProcess, wait_until

Factory = Callable[..., DaemonProcess]


def configured(factory: Factory, tmp_path: Path, printers: dict[str, str],
               retention: str) -> DaemonProcess:
    config = tmp_path / "receiptd.toml"
    config.write_text(f"[retention]\n{retention}\n")
    return factory(printers, extra_args=["--config", str(config)])


def backdate(journal: Path, receipt_ids: list[int], days: float) -> None:
    """Make receipts (and their prints) look ``days`` old, in the live journal file, the way
    time would have. Only the oldest ids: the purge relies on ids growing with time."""
    then = format_ts(datetime.now(UTC) - timedelta(days=days))
    marks = ",".join("?" * len(receipt_ids))
    conn = sqlite3.connect(journal, timeout=30)
    try:
        with conn:
            conn.execute(f"UPDATE receipts SET created_at = ?, printed_at = CASE WHEN "
                         f"printed_at IS NULL THEN NULL ELSE ? END WHERE id IN ({marks})",
                         [then, then, *receipt_ids])
            conn.execute(f"UPDATE prints SET created_at = ?, sent_at = CASE WHEN sent_at IS "
                         f"NULL THEN NULL ELSE ? END, finished_at = CASE WHEN finished_at IS "
                         f"NULL THEN NULL ELSE ? END WHERE receipt_id IN ({marks})",
                         [then, then, then, *receipt_ids])
    finally:
        conn.close()


class Submitter:
    """Submits receipts in a loop from another thread until stopped; records every answer."""

    def __init__(self, daemon: DaemonProcess, printer: str) -> None:
        self.daemon, self.printer = daemon, printer
        self.accepted: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.daemon.url, timeout=30,
                          headers={"Authorization": f"Bearer {TOKENS['pos']}"}) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    r = client.post(f"/v1/printers/{self.printer}/receipts",
                                    json={"text": f"during purge {n}\n", "order_ref": f"C-{n}"})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if r.status_code == 202:
                    self.accepted.append(r.json()["id"])
                else:
                    self.failures.append(f"{r.status_code} {r.text}")
                self._stop.wait(0.02)  # a busy till, not a flood the printer cannot follow

    def __enter__(self) -> Submitter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _setup_old_and_new(daemon: DaemonProcess) -> dict[str, list[int]]:
    """Old printed, old unprinted (a printer nobody answers on) and new printed receipts."""
    ids: dict[str, list[int]] = {"old_printed": [], "old_queued": [], "new_printed": []}
    for i in range(6):
        r = daemon.submit({"text": f"old {i}\n", "order_ref": f"OLD-{i}"})
        ids["old_printed"].append(r["id"])
        q = daemon.submit({"text": f"old queued {i}\n"}, printer="back")
        ids["old_queued"].append(q["id"])
    for rid in ids["old_printed"]:
        daemon.wait_printed(rid)
    backdate(daemon.journal, ids["old_printed"] + ids["old_queued"], days=30)
    for i in range(3):
        r = daemon.submit({"text": f"new {i}\n"})
        ids["new_printed"].append(r["id"])
    for rid in ids["new_printed"]:
        daemon.wait_printed(rid)
    return ids


def _exists(daemon: DaemonProcess, rid: int) -> bool:
    r = daemon.clients["pos"].get(f"/v1/receipts/{rid}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def test_background_retention_purges_only_old_printed_receipts_while_submissions_go_on(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path
) -> None:
    emulator.start_tcp()
    dead = f"tcp://127.0.0.1:{free_port()}"
    daemon = configured(daemon_factory, tmp_path, {"front": emulator.tcp_url, "back": dead},
                        "days = 7\ninterval_s = 0.2")
    ids = _setup_old_and_new(daemon)
    with Submitter(daemon, "front") as during:
        wait_until(lambda: not any(_exists(daemon, i) for i in ids["old_printed"]),
                   timeout=30, what="old printed receipts purged by the retention thread")
        wait_until(lambda: len(during.accepted) >= 5, what="submissions during the purge")
    assert during.failures == []
    assert all(_exists(daemon, i) for i in ids["old_queued"]), "an unprinted receipt was purged"
    assert all(_exists(daemon, i) for i in ids["new_printed"])
    assert all(_exists(daemon, i) for i in during.accepted)
    for rid in during.accepted:
        daemon.wait_printed(rid)
    pos = daemon.clients["pos"]
    assert pos.get("/v1/orders/OLD-0").json()["receipts"] == []
    assert daemon.printer("back")["queue"]["depth"] == len(ids["old_queued"])


def test_purge_endpoint_runs_one_pass(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.start_tcp()
    dead = f"tcp://127.0.0.1:{free_port()}"
    daemon = configured(daemon_factory, tmp_path, {"front": emulator.tcp_url, "back": dead},
                        "days = 7\ninterval_s = 3600")
    ids = _setup_old_and_new(daemon)
    admin = daemon.clients["admin"]
    with Submitter(daemon, "front") as during:
        wait_until(lambda: len(during.accepted) >= 2, what="submissions started")
        r = admin.post("/v1/journal/purge")
        wait_until(lambda: len(during.accepted) >= 6, what="submissions after the purge")
    assert r.status_code == 200, r.text
    assert r.json()["purged"] == len(ids["old_printed"])
    assert during.failures == []
    assert not any(_exists(daemon, i) for i in ids["old_printed"])
    assert all(_exists(daemon, i) for i in ids["old_queued"] + ids["new_printed"]
               + during.accepted)
    assert admin.post("/v1/journal/purge").json()["purged"] == 0
    assert daemon.clients["cashier"].post("/v1/journal/purge").status_code == 403
    argv = ["--url", daemon.url, "--token", TOKENS["admin"], "journal", "purge"]
    assert ctl.main(argv) == 0
    assert capsys.readouterr().out.strip() == "purged 0 receipts"


def test_stats_check_and_online_backup(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    made = [daemon.submit({"text": f"backup me {i}\n", "order_ref": f"BK-{i}"})
            for i in range(5)]
    for r in made:
        daemon.wait_printed(r["id"])
    admin = daemon.clients["admin"]

    stats = admin.get("/v1/journal/stats").json()
    assert stats["receipts"]["printed"] == 5
    assert stats["file_bytes"] > 0 and stats["schema_version"] >= 1
    check = admin.post("/v1/journal/check")
    assert check.status_code == 200 and check.json() == {"ok": True, "problems": []}
    for method, path in (("GET", "/v1/journal/stats"), ("POST", "/v1/journal/check"),
                         ("GET", "/v1/journal/backup")):
        r = daemon.clients["cashier"].request(method, path)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"

    # Backup over HTTP while receipts keep coming: a consistent copy of the journal.
    with Submitter(daemon, "front") as during:
        wait_until(lambda: len(during.accepted) >= 2, what="submissions started")
        r = admin.get("/v1/journal/backup")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.sqlite3"
    assert "receiptd-journal-" in r.headers["content-disposition"]
    copy = tmp_path / "over-http.db"
    copy.write_bytes(r.content)
    ids = _backup_receipt_ids(copy)
    assert {x["id"] for x in made} <= ids
    assert during.failures == []
    assert not list(daemon.journal.parent.glob(".backup-*")), "temporary backup file left"

    # receiptctl journal stats | check | backup FILE
    argv = ["--url", daemon.url, "--token", TOKENS["admin"], "journal"]
    assert ctl.main([*argv, "stats"]) == 0
    out = capsys.readouterr().out
    assert "receipts: queued" in out and "schema version" in out
    assert ctl.main([*argv, "check"]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    dest = tmp_path / "by-ctl.db"
    assert ctl.main([*argv, "backup", str(dest)]) == 0
    assert f"backup written to {dest}" in capsys.readouterr().err
    assert {x["id"] for x in made} | set(during.accepted) <= _backup_receipt_ids(dest)
    assert not Path(f"{dest}.part").exists()


def _backup_receipt_ids(path: Path) -> set[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows: list[Any] = conn.execute("SELECT id, state FROM receipts").fetchall()
    finally:
        conn.close()
    return {int(r[0]) for r in rows}


def test_size_limit_purges_oldest_printed_receipts_never_unprinted(
    emulator: Emulator, daemon_factory: Factory, tmp_path: Path
) -> None:
    emulator.start_tcp()
    dead = f"tcp://127.0.0.1:{free_port()}"
    # days = 0 keeps by age; a 1-byte limit makes every settled receipt "too much"
    daemon = configured(daemon_factory, tmp_path, {"front": emulator.tcp_url, "back": dead},
                        "days = 0\nmax_bytes = 1\ninterval_s = 3600")
    printed = [daemon.submit({"text": f"printed {i}\n"})["id"] for i in range(4)]
    queued = [daemon.submit({"text": f"queued {i}\n"}, printer="back")["id"] for i in range(3)]
    for rid in printed:
        daemon.wait_printed(rid)
    r = daemon.clients["admin"].post("/v1/journal/purge")
    assert r.status_code == 200 and r.json()["purged"] == len(printed)
    assert r.json()["stats"]["receipts"]["queued"] == len(queued)
    assert not any(_exists(daemon, i) for i in printed)
    assert all(_exists(daemon, i) for i in queued)

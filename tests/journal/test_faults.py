"""A journal on a dying disk, against the real daemon: a full disk (a tiny tmpfs), a read-only
file system, a damaged file. Never a 202 for a receipt that is not on disk; what was accepted
still prints; the daemon recovers when the disk does; a damaged journal is refused, untouched."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from receiptd.emulator import Emulator

from ..support import DaemonProcess, sample_document

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs of our own (CI runs as root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(mnt: Path, name: str, leave: int = 0) -> Path:
    """Write a filler file until ``leave`` bytes remain free (0: until ENOSPC)."""
    filler = mnt / name
    with filler.open("ab") as fh:
        while True:
            room = free(mnt) - leave
            if room <= 0:
                break
            try:
                fh.write(b"\0" * min(room, 1 << 20))
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def config(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "faults.toml"
    path.write_text(text)
    return ["--config", str(path)]


def on_disk(mnt: Path, ids: list[int]) -> set[int]:
    with sqlite3.connect(f"file:{mnt / 'journal.db'}?mode=ro", uri=True) as db:
        return {r[0] for r in db.execute("SELECT id FROM receipts")} & set(ids)


def test_disk_below_the_reserve_refuses_new_receipts_and_prints_the_queued(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmpfs: Path,
    tmp_path: Path,
) -> None:
    emulator.start_tcp()
    emulator.inject("paper_out")
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=[
        "--journal", str(tmpfs / "journal.db"),
        *config(tmp_path, "[daemon]\njournal_reserve_bytes = 4194304\n")])
    daemon.wait_state("paper_out")
    queued = [daemon.submit({"document": sample_document(f"Q{i}"), "idempotency_key": f"q-{i}"})
              for i in range(5)]
    assert {r["state"] for r in queued} == {"queued"}

    filler = fill(tmpfs, "filler", leave=1 << 20)  # 1 MiB left: below the 4 MiB reserve
    pos = daemon.clients["pos"]
    for i in range(3):
        r = pos.post("/v1/printers/front/receipts",
                     json={"document": sample_document(f"NEW{i}")})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "journal_unavailable"
        assert "free" in r.json()["error"]["message"]
    r = daemon.clients["cashier"].post(f"/v1/receipts/{queued[0]['id']}/reprint")
    # Not printed yet: 409, whatever the disk (the state is checked before the space).
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_printed", r.text
    # A retry of an accepted receipt is answered from the journal: it needs no space.
    r = pos.post("/v1/printers/front/receipts",
                 json={"document": sample_document("Q0"), "idempotency_key": "q-0"})
    assert r.status_code == 200 and r.json()["id"] == queued[0]["id"]

    emulator.clear("paper_out")  # the queued receipts print on the reserve
    for receipt in queued:
        daemon.wait_printed(receipt["id"], timeout=30)
    assert not [s for s in emulator.transcript.slips() if any("NEW" in e.get("text", "")
                                                              for e in s)]
    filler.unlink()  # space returns: new receipts are accepted again
    fresh = daemon.submit({"document": sample_document("AFTER")})
    daemon.wait_printed(fresh["id"])
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_disk_full_to_the_last_byte_never_answers_202(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmpfs: Path,
    tmp_path: Path,
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=[
        "--journal", str(tmpfs / "journal.db"),
        *config(tmp_path, "[daemon]\njournal_reserve_bytes = 0\n")])  # SQLite meets ENOSPC
    first = daemon.submit({"document": sample_document("BEFORE")})
    daemon.wait_printed(first["id"])
    filler = fill(tmpfs, "filler")
    assert free(tmpfs) < 8192

    pos = daemon.clients["pos"]
    accepted: list[int] = []
    refused = 0
    for i in range(30):
        body = {"document": sample_document(f"FULL{i}", lines=40), "idempotency_key": f"f-{i}"}
        r = pos.post("/v1/printers/front/receipts", json=body)
        assert r.status_code in (202, 503), r.text
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "journal_unavailable", r.text
            refused += 1
        else:
            accepted.append(r.json()["id"])
    assert refused > 0
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert on_disk(tmpfs, accepted) == set(accepted), "a 202 for a receipt not on disk"

    filler.unlink()
    for receipt_id in accepted:
        daemon.wait_printed(receipt_id, timeout=30)
    again = daemon.submit({"document": sample_document("FULL0"), "idempotency_key": "f-0"})
    daemon.wait_printed(again["id"])
    daemon.terminate()
    with sqlite3.connect(tmpfs / "journal.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        printed = db.execute("SELECT count(*) FROM receipts WHERE state = 'printed'").fetchone()
    assert printed[0] == len(accepted) + 1 + (0 if again["id"] in accepted else 1)
    print(f"disk full: {len(accepted)} accepted (all printed), {refused} refused with 503")


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file() and p.name.startswith("journal")}


def _run_daemon(daemon: DaemonProcess) -> subprocess.CompletedProcess[str]:
    """Start ``receiptd run`` as the fixture would, and wait for it to give up."""
    args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal", str(daemon.journal),
            "--listen", f"127.0.0.1:{daemon.port}",
            "--printer", f"front={daemon.printers['front']}", "--log-format", "json"]
    return subprocess.run(args, env=daemon.env, capture_output=True, text=True, timeout=60)


def test_read_only_journal_is_refused_at_start_and_recovers_when_writable(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmpfs: Path
) -> None:
    """Linux will not remount a file system read-only while the journal is open for writing
    (EBUSY), so the read-only case is the one a restart meets: the disk came back read-only."""
    emulator.start_tcp()
    emulator.inject("paper_out")
    daemon = daemon_factory({"front": emulator.tcp_url},
                            extra_args=["--journal", str(tmpfs / "journal.db")])
    daemon.journal = tmpfs / "journal.db"
    daemon.wait_state("paper_out")
    queued = [daemon.submit({"document": sample_document(f"RO{i}")})["id"] for i in range(3)]
    daemon.kill()
    r = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    before = _digests(tmpfs)
    result = _run_daemon(daemon)
    assert result.returncode == 3, result.stderr
    assert "journal" in result.stderr and "read" in result.stderr.lower(), result.stderr
    assert _digests(tmpfs) == before

    r = subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    emulator.clear("paper_out")
    daemon.start()
    for receipt_id in queued:
        daemon.wait_printed(receipt_id, timeout=30)


@pytest.mark.parametrize("where", ["header", "page"])
def test_damaged_journal_is_refused_untouched_and_explained(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], where: str
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    ids = [daemon.submit({"document": sample_document(f"D{i}", lines=30)})["id"]
           for i in range(20)]
    for receipt_id in ids:
        daemon.wait_printed(receipt_id)
    assert daemon.terminate() == 0
    journal = daemon.journal
    db = sqlite3.connect(journal)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    assert db.execute("SELECT count(*) FROM receipts").fetchone()[0] == 20  # reads the WAL
    db.close()  # the last connection: checkpoints and removes -wal and -shm
    assert sorted(p.name for p in journal.parent.glob("journal.db*")) == ["journal.db"]
    data = bytearray(journal.read_bytes())
    offset = 0 if where == "header" else 2 * page_size  # page 3: a b-tree page's header
    data[offset:offset + 64] = b"\xa5" * 64
    journal.write_bytes(bytes(data))
    before = _digests(journal.parent)

    result = _run_daemon(daemon)
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "left untouched" in result.stderr
    assert f"receiptd journal-check --journal {journal}" in result.stderr
    assert _digests(journal.parent) == before, "the damaged journal was changed"

    check = subprocess.run([sys.executable, "-m", "receiptd.cli.daemon", "journal-check",
                            "--journal", str(journal)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 3, check.stdout
    assert "PROBLEM" in check.stdout and "move the file aside" in check.stdout, check.stdout
    assert _digests(journal.parent) == before
    print(check.stdout)


def test_journal_check_on_a_healthy_journal(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_printed(daemon.submit({"text": "hello"})["id"])
    daemon.kill()  # the WAL is left behind: the check reads it, on a copy
    before = _digests(daemon.journal.parent)
    check = subprocess.run([sys.executable, "-m", "receiptd.cli.daemon", "journal-check",
                            "--journal", str(daemon.journal)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout
    assert "integrity_check: ok" in check.stdout and "printed 1" in check.stdout
    assert _digests(daemon.journal.parent) == before
    missing = subprocess.run([sys.executable, "-m", "receiptd.cli.daemon", "journal-check",
                              "--journal", str(daemon.tmp / "nope.db")], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2
    assert f"{daemon.tmp / 'nope.db'}: no such file" in missing.stdout + missing.stderr


def raster_receipt(seed: int, rows: int = 1300) -> dict[str, str]:
    """A raw receipt of 72 bytes a dot row (94 KB by default): one 576-dot raster image
    (GS v 0) of random dots, then a cut."""
    import base64
    import random

    width = 72  # bytes per row: 576 dots
    # No DLE (0x10) in the dots: DLE EOT / DLE DC4 are real-time even inside image data.
    data = random.Random(seed).randbytes(width * rows).replace(b"\x10", b"\x11")
    head = b"\x1dv0\x00" + bytes([width, 0, rows & 0xFF, rows >> 8])
    return {"raw": base64.b64encode(head + data + b"\n\x1dVA\x00").decode()}


def test_the_reserve_covers_printing_what_it_admitted(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmpfs: Path,
    tmp_path: Path,
) -> None:
    """Big raw receipts accepted while the paper is out until the disk reaches the reserve:
    each print then writes small state rows (not the 200 KB receipt again), and what the WAL
    held is in the database before the reserve is reached, so every one of them prints."""
    emulator.start_tcp()
    emulator.inject("paper_out")
    filler = fill(tmpfs, "filler", leave=2 << 20)  # a 2 MiB disk, 22 % of it reserved
    reserve = 460 << 10
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=[
        "--journal", str(tmpfs / "journal.db"),
        *config(tmp_path, f"[daemon]\njournal_reserve_bytes = {reserve}\n")])
    daemon.wait_state("paper_out")
    pos = daemon.clients["pos"]
    accepted = []
    for i in range(200):
        r = pos.post("/v1/printers/front/receipts", json=raster_receipt(i, rows=280))
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "journal_unavailable", r.text
            break
        assert r.status_code == 202, r.text
        accepted.append(r.json()["id"])
    else:
        pytest.fail("the disk never reached the reserve")
    assert len(accepted) >= 5

    emulator.clear("paper_out")
    for receipt_id in accepted:
        daemon.wait_printed(receipt_id, timeout=60)
    assert daemon.proc is not None and daemon.proc.poll() is None
    print(f"reserve: {len(accepted)} big receipts accepted, all printed, "
          f"{free(tmpfs)} bytes still free")
    filler.unlink()

"""One bad receipt never stops a printer.

A journaled receipt that can no longer be printed (here: its stored bytes and its content
damaged on disk, written with sqlite3 into the real journal file while the daemon was
stopped) used to raise inside the spooler: the thread ended, every later receipt stayed
``queued``, and it happened again after every restart. Now that one print ``failed``, with the
reason, on the receipt, on the event stream and in the printer's health; the spooler goes on
with the next receipt, and the failed one is not tried again after a restart.

What the journal still holds does print: bytes damaged but content intact are laid out again
from the content.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from receiptd.emulator import Emulator

from ..rig import occurrences
from ..support import DaemonProcess, sample_document, slips_with

DAMAGED_CONTENT = json.dumps({"document": {"blocks": [{"type": "no such block"}]}})
DAMAGE = {
    # random bytes where the rendering was (still a BLOB)
    "bytes": "UPDATE receipt_bodies SET rendered = randomblob(300), content = ? "
             "WHERE receipt_id = ?",
    # not even a BLOB any more: the row itself no longer reads as a receipt
    "type": "UPDATE receipt_bodies SET rendered = 'not a rendering', content = ? "
            "WHERE receipt_id = ?",
}


def damage(journal: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(journal) as db:
        assert db.execute(sql, params).rowcount == 1


def held_back(tmp_path: Path, emu: Emulator) -> tuple[DaemonProcess, int]:
    """A daemon with one receipt journaled and queued (the paper is out), then stopped."""
    emu.inject("paper_out")  # nothing prints until the test says so
    daemon = DaemonProcess(tmp_path, {"front": emu.tcp_url})
    daemon.start()
    daemon.wait_state("paper_out")
    rid = int(daemon.submit({"document": sample_document("BAD-1")})["id"])
    assert daemon.terminate() == 0
    return daemon, rid


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_an_unprintable_receipt_fails_alone_and_later_receipts_print(
    tmp_path: Path, how: str
) -> None:
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon, bad = held_back(tmp_path, emu)
        try:
            damage(daemon.journal, DAMAGE[how], DAMAGED_CONTENT, bad)
            daemon.start()
            good = [int(daemon.submit({"document": sample_document(f"GOOD-{i}")})["id"])
                    for i in (1, 2)]
            emu.clear("paper_out")
            for rid in good:
                daemon.wait_printed(rid, timeout=30)

            receipt = daemon.receipt(bad)
            assert receipt["state"] == "failed", receipt
            assert [p["state"] for p in receipt["prints"]] == ["failed"], receipt["prints"]
            assert "damaged" in receipt["prints"][0]["outcome"], receipt["prints"]
            assert not slips_with(emu, "BAD-1")  # nothing of unknown meaning was sent
            health = daemon.printer()
            problem = [p for p in health["problems"] if p["code"] == "print_failed"]
            assert problem and problem[0]["receipts"] == [bad], health["problems"]
            assert problem[0]["hint"]["en"] and problem[0]["hint"]["zh"]
            assert [f["receipt_id"] for f in health["failed"]] == [bad], health["failed"]
            assert health["history"]["failed"] == 1

            # Terminal: a restart does not try it again, and the printer still prints.
            daemon.restart()
            after = int(daemon.submit({"document": sample_document("GOOD-3")})["id"])
            daemon.wait_printed(after, timeout=30)
            assert daemon.receipt(bad)["prints"] == receipt["prints"]
            emu.wait_idle(10)
            assert sorted(o[0] for o in occurrences(emu)) == ["GOOD-1", "GOOD-2", "GOOD-3"]
        finally:
            daemon.close()


def test_damaged_bytes_with_intact_content_print_as_accepted(tmp_path: Path) -> None:
    """What the journal still holds prints: the content is laid out again, unmarked."""
    with Emulator(speed_mm_s=2000.0) as emu:
        emu.start_tcp()
        daemon, rid = held_back(tmp_path, emu)
        try:
            damage(daemon.journal,
                   "UPDATE receipt_bodies SET rendered = randomblob(300) WHERE receipt_id = ?",
                   rid)
            daemon.start()
            emu.clear("paper_out")
            receipt = daemon.wait_printed(rid, timeout=30)
            assert [(p["kind"], p["state"]) for p in receipt["prints"]] == [
                ("original", "printed")]
            emu.wait_idle(10)
            assert [o for o in occurrences(emu) if o[0] == "BAD-1"] == [("BAD-1", False, True)]
        finally:
            daemon.close()

"""``receiptctl doctor``'s test print is a test, not a sale: journaled with source ``doctor``,
left out of the cashier's list and of receiptd_receipts_submitted_total; and the journal's size
is what it takes on disk, its WAL included, in doctor, /v1/system and /metrics."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document

Factory = Callable[..., DaemonProcess]


def submitted_total(metrics: str) -> float:
    found = re.search(r'^receiptd_receipts_submitted_total\{printer="front"\} (\S+)$', metrics,
                      re.M)
    assert found, metrics[:2000]
    return float(found.group(1))


def test_the_doctors_test_print_is_no_sale_and_the_journal_size_has_its_wal(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_state("online")
    sale = daemon.submit({"document": sample_document("SALE-1"), "order_ref": "S-1"})
    daemon.wait_printed(sale["id"])
    admin, cashier = daemon.clients["admin"], daemon.clients["cashier"]
    before = submitted_total(admin.get("/metrics").text)

    out = subprocess.run([sys.executable, "-m", "receiptd.cli.ctl", "--url", daemon.url,
                          "--token", TOKENS["admin"], "doctor", "front"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "receiptd doctor test print" in emulator.transcript.text()

    listed = cashier.get("/v1/receipts").json()["receipts"]
    assert [r["id"] for r in listed] == [sale["id"]], "the test print is not a sale"
    tests = cashier.get("/v1/receipts", params={"source": "doctor"}).json()["receipts"]
    assert len(tests) == 1 and tests[0]["state"] == "printed" and tests[0]["order_ref"] is None
    assert submitted_total(admin.get("/metrics").text) == before

    # Sizes: the WAL counts (it holds the newest pages until a checkpoint).
    journal = Path(daemon.journal)
    wal = Path(f"{journal}-wal")
    system = admin.get("/v1/system").json()["journal"]
    assert system["total_bytes"] == system["file_bytes"] + system["wal_bytes"]
    assert system["wal_bytes"] > 0 and wal.exists()
    size = re.search(r"^receiptd_journal_bytes (\S+)$", admin.get("/metrics").text, re.M)
    assert size and float(size.group(1)) > journal.stat().st_size
    stats = admin.get("/v1/journal/stats").json()
    assert stats["total_bytes"] == stats["file_bytes"] + stats["wal_bytes"]
    assert "(WAL " in out.stdout

"""The torture test, CI-sized: 40 receipts from 4 concurrent tills at 250 mm/s (3 of them long,
150-250 lines; 5 raw, from the fixed fuzzer corpus ``torture_corpus.hex``), 4 daemon SIGKILLs,
printer power cycles and paper-outs at random, and a hostile till making each known attack once
(forged confirmations, real-time commands at the prologue, paper fed forever, image bombs, a
wrong-secret flood) while forged process-ID replies come from the printer's side. Seeded; the
seed is printed (rerun one with RECEIPTD_TORTURE_SEED). The long run is ``bench/torture.py``.

``torture_corpus.hex`` holds 50 inputs the raw filter accepted in a ``bench/raw_fuzz.py
--corpus`` run, each usable in a receipt (``receiptd.testing.torture_load.usable``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from receiptd.emulator import Emulator
from receiptd.testing import torture_paper
from receiptd.testing.torture import run
from receiptd.testing.torture_hostile import ATTACKS, FLOOD
from receiptd.testing.torture_load import document

from ..support import DaemonProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CORPUS = Path(__file__).with_name("torture_corpus.hex")


def test_torture_no_receipt_lost_none_printed_unmarked_twice(tmp_path: Path) -> None:
    seed = os.environ.get("RECEIPTD_TORTURE_SEED")
    report = run(tmp_path / "torture", receipts=40, kills=4, clients=4,
                 seed=int(seed) if seed else None, speed_mm_s=250.0, long_share=0.075,
                 corpus=CORPUS, corpus_share=0.125, attacks=1, flood_tries=40)
    print(report.summary())
    print(f"attacks: {report.attacks}")
    assert report.long == 3 and report.corpus == 5 and report.corpus_skipped == 0
    assert report.accepted == 40, report.summary()
    assert report.refused == [], report.refused
    assert report.kills == 4
    assert report.lost == [], report.lost
    assert report.unmarked_duplicates == [], report.unmarked_duplicates
    assert report.id_mismatches == [], "a retry with the same key made a new receipt"
    assert report.stuck == [] and report.failed == [], (report.stuck, report.failed)
    assert report.integrity == "ok"
    assert report.printed == 40
    # Every attack was made and answered; those that must be refused were, with a 4xx.
    assert set(report.attacks) == {a.name for a in ATTACKS} | {FLOOD}, report.attacks
    for attack in ATTACKS:
        answers = report.attacks[attack.name]
        assert sum(answers.values()) == 1, (attack.name, answers)
        if attack.must_refuse:
            assert all(a[0] == "4" for a in answers), (attack.name, answers)
    assert report.attacks_accepted == []
    flood = report.attacks[FLOOD]
    assert sum(flood.values()) == 40
    assert set(flood) <= {"401 unauthorized", "429 too_many_failures", "503 auth_busy"}, flood
    assert report.till_throttled == 0
    # The daemon came through it: alive, no worker error, a last receipt prints.
    assert report.healthz == 200 and report.probe_printed, report.summary()
    assert report.worker_errors == 0 and report.worker_restarts == 0, report.summary()
    assert report.final_state == "online"


def test_a_paper_out_after_a_reprint_marker_leaves_no_unmarked_copy(
    daemon_factory: Callable[..., DaemonProcess]
) -> None:
    """Found by the long torture run (bench/torture.py): a marked repeat cut short by a
    paper-out right after its marker came out after the reload from its RECEIPT line on,
    without the marker, when the printer's receive buffer was full (a receipt longer than
    4 KB) and it read the buffer clear only after that data. Long prints are now paced by
    flow marks (``receiptd.printer.flow``): the buffer keeps room for the clear."""
    # A 200-line receipt (~9 KB) at a real 250 mm/s. Paper out 8 mm into the original (its
    # RECEIPT line is out); after the reload the marked repeat is sent, and a second paper out
    # lands 5 mm after its marker's "attempt 2" line: past the marker, before RECEIPT.
    emu = Emulator(speed_mm_s=250.0)
    armed: list[Any] = []

    def second_paper_out(entry: dict[str, Any]) -> None:
        if not armed and str(entry.get("text", "")).startswith("attempt 2"):
            armed.append(emu.arm("paper_out", after_mm=5.0))

    try:
        emu.start_tcp()
        daemon = daemon_factory({"front": emu.tcp_url})
        daemon.wait_state("online", timeout=20)
        emu.inject("cover_open")
        daemon.wait_state("cover_open")
        receipt = daemon.submit({"document": document("T00001", 200)})
        emu.arm("paper_out", after_mm=8.0)
        emu.clear("cover_open")
        daemon.wait_state("paper_out", timeout=30)
        emu.subscribe(second_paper_out)
        emu.clear("paper_out")
        daemon.wait_state("online", timeout=30)
        daemon.wait_state("paper_out", timeout=30)
        emu.clear("paper_out")
        done = daemon.wait_printed(receipt["id"], timeout=90)
        emu.wait_idle(20)
        assert armed and [p["state"] for p in done["prints"]] == [
            "interrupted", "interrupted", "printed"], done["prints"]
        paper = torture_paper.read(emu.transcript.slips())
        assert paper.whole["T00001"] >= 1
        assert paper.unmarked["T00001"] == 1, paper.before["T00001"]
    finally:
        emu.stop()

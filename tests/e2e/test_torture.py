"""The torture test, CI-sized: 120 receipts from 4 concurrent clients, 6 daemon SIGKILLs,
printer power cycles and paper-outs at random (seeded; the seed is printed — rerun one with
RECEIPTD_TORTURE_SEED). The long run is ``bench/torture.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from receiptd.testing.torture import run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_torture_no_receipt_lost_none_printed_unmarked_twice(tmp_path: Path) -> None:
    seed = os.environ.get("RECEIPTD_TORTURE_SEED")
    report = run(tmp_path / "torture", receipts=120, kills=6, clients=4,
                 seed=int(seed) if seed else None)
    print(report.summary())
    assert report.accepted == 120, report.summary()
    assert report.kills == 6
    assert report.lost == [], report.lost
    assert report.unmarked_duplicates == [], report.unmarked_duplicates
    assert report.id_mismatches == [], "a retry with the same key made a new receipt"
    assert report.integrity == "ok"
    assert report.printed == 120

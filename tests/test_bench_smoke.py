"""The benchmark harness (bench/run.py) with tiny N, so its code keeps working.

The real benchmark is `make bench` (minutes, not part of `make test`). Here every scenario runs
once or twice against the real daemon, emulated printers in their own processes and, where
CUPS is installed, a private cupsd. No timing is asserted: only that every scenario produced
numbers and that every accepted receipt came out of the printer.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import cups_server  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
from ipp import IppClient  # noqa: E402

CUPS_MISSING = cups_server.available()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_harness_tiny() -> None:
    opt = run.Options(latency_n=2, fast_n=2, burst=16, burst_real=4, fault_reps=1, idle_s=0.5,
                      ready_runs=1, journal_n=200, scale_samples=5, lp_n=1, cups_watch_s=1.0,
                      burst_timeout=60,
                      cups=CUPS_MISSING is None, out=None)
    res = run.run(opt)

    systems = ["direct", "receiptd"] + ([] if CUPS_MISSING else ["cups"])
    for key in ("latency", "fast"):
        for system in systems:
            assert res[key][system]["ack"]["n"] == 2, (key, system, res[key][system])
            assert res[key][system]["cut"]["n"] > 0, (key, system, res[key][system])
        assert res[key]["receiptd"]["printed"]["n"] == 2
    for system in systems:
        b = res["burst"][system]
        assert b["accepted"] == 16 and b["refused"] == 0, b
        assert b["complete"] and b["printed"] == 16, b
        r = res["burst_real"][system]
        assert r["complete"] and r["printed"] == 4, r
    faults = res["faults"]["receiptd"]
    assert faults["paper_out_visible"]["n"] == 1 and faults["silent_offline"]["n"] == 1, faults
    assert faults["paper_resume_cut"]["n"] == 1 and faults["silent_resume_cut"]["n"] == 1
    assert res["idle"]["receiptd"]["rss_peak_mb"] > 0
    assert res["ready"]["n"] == 1
    assert res["scale"]["full"]["submit"]["median"] > 0
    if CUPS_MISSING:
        assert res["cups_skipped"] == CUPS_MISSING
    else:
        assert set(res["faults"]["cups"]) == {"paper_out", "silent"}
    text = report.markdown(res)
    assert "**Targets**" in text and "receiptd" in text


@pytest.mark.skipif(CUPS_MISSING is not None, reason=f"CUPS part skipped: {CUPS_MISSING}")
def test_private_cups_prints_over_ipp(tmp_path: Path) -> None:
    """bench/cups_server.py + bench/ipp.py: a private cupsd, a raw queue, one job over IPP."""
    printer = run.Printer(run.FAST_MM_S)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cups = cups_server.PrivateCups(port)
    try:
        cups.start(f"socket://127.0.0.1:{printer.port}")
        client = IppClient("127.0.0.1", port, cups.queue)
        status = client.printer_status()
        assert status["state"] == "idle", status
        job = client.print_job(run.rendered("BXz0000001"), "smoke")
        assert printer.wait_cut("BXz0000001", 30) is not None
        assert client.job_state(job) in ("processing", "completed")
        client.close()
    finally:
        cups.stop()
        printer.stop()
    assert not cups.root.exists()  # torn down: nothing of it left behind

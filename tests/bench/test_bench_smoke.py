"""The benchmark harness (bench/run.py) with tiny N, so its code keeps working.

The real benchmark is `make bench` (minutes, not part of `make test`). Here every scenario runs
once or twice against the real daemon, emulated printers in their own processes and a private
cupsd. No timing is asserted: only that every scenario produced numbers (none negative) and
that every accepted receipt came out of the printer.

CUPS (Debian: cups, cups-client) is part of the test: ci/system-deps.sh installs it for
`make test`. Where it cannot run (not installed, not root) the harness records why and the
CUPS part is left out, named in a warning; under CI=true that fails instead.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import cups_server  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
from ipp import IppClient  # noqa: E402

CUPS_MISSING = cups_server.available()
CI = os.environ.get("CI") == "true"


def cups_or_skip() -> None:
    """Leave out what needs CUPS when it cannot run here: never in CI."""
    if CUPS_MISSING is None:
        return
    if CI:
        pytest.fail(f"CUPS cannot run, and under CI=true its part may not be skipped: "
                    f"{CUPS_MISSING} (ci/system-deps.sh installs it)")
    pytest.skip(f"CUPS part skipped: {CUPS_MISSING}")


def test_cups_packages_are_in_the_ci_install_list() -> None:
    """The bench's own install step and `make test`'s ask for the same CUPS packages."""
    listed = {}
    for line in (BENCH.parent / "ci" / "apt-packages.txt").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            listed[fields[0]] = set(fields[1].split(","))
    for pkg in cups_server.APT_PACKAGES:
        assert {"test", "bench"} <= listed.get(pkg, set()), (pkg, listed.get(pkg))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_harness_tiny() -> None:
    if CI:
        cups_or_skip()  # fails if CUPS cannot run: the harness would quietly leave it out
    opt = run.Options(latency_n=2, fast_n=2, burst=16, burst_real=4, fault_reps=1, idle_s=0.5,
                      ready_runs=1, journal_n=200, scale_samples=5, lp_n=1, cups_watch_s=1.0,
                      burst_timeout=60, cups=True, out=None, writes_n=2)
    res = run.run(opt)

    systems = ["direct", "receiptd"] + ([] if CUPS_MISSING else ["cups"])
    for key in ("latency", "fast"):
        for system in systems:
            assert res[key][system]["ack"]["n"] == 2, (key, system, res[key][system])
            assert res[key][system]["cut"]["n"] > 0, (key, system, res[key][system])
            # Each section's receipts matched to their own slips, never to an earlier one's.
            for metric, v in res[key][system].items():
                assert v["median"] is None or v["median"] >= 0, (key, system, metric, v)
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
    assert res["rss_hwm_mb"] >= res["idle"]["receiptd"]["rss_peak_mb"] > 0
    writes = res["writes"]
    assert {k.split(" @")[0] for k in writes} == {"till_1k", "raw_250k"}, writes
    for figures in writes.values():  # at least the receipt's own bytes, once in the WAL
        assert figures["total"] >= figures["receipt_bytes"] and figures["blocks_4k"] > 0
    if CUPS_MISSING:
        assert res["cups_skipped"] == CUPS_MISSING
        warnings.warn(f"bench smoke ran without its CUPS part: {CUPS_MISSING}", stacklevel=1)
    else:
        assert "cups_skipped" not in res, res["cups_skipped"]
        assert set(res["faults"]["cups"]) == {"paper_out", "silent"}
    text = report.markdown(res)
    assert "**Targets**" in text and "receiptd" in text
    for target in ("durable ack", "first byte", "burst accept rate", "burst print rate",
                   "RSS ≤ 40 MB", "peak RSS", "idle CPU", "offline detected", "start → READY",
                   "duplicate check", "250 KB raw", "1 KB till"):
        assert target in text, target


def test_private_cups_prints_over_ipp(tmp_path: Path) -> None:
    """bench/cups_server.py + bench/ipp.py: a private cupsd, a raw queue, one job over IPP."""
    cups_or_skip()
    printer = run.Printer(run.FAST_MM_S)
    tag = printer.tags("z").next()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cups = cups_server.PrivateCups(port)
    try:
        cups.start(f"socket://127.0.0.1:{printer.port}")
        client = IppClient("127.0.0.1", port, cups.queue)
        status = client.printer_status()
        assert status["state"] == "idle", status
        job = client.print_job(run.rendered(tag), "smoke")
        assert printer.wait_cut(tag, 30) is not None
        assert client.job_state(job) in ("processing", "completed")
        client.close()
    finally:
        cups.stop()
        printer.stop()
    assert not cups.root.exists()  # torn down: nothing of it left behind

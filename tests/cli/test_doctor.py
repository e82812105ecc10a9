"""``receiptctl doctor`` as a subprocess against the real daemon and the emulator.

Each injected fault must come out as the failing (or warning) step with the printer's own
advice and the right exit code: 0 all ok, 1 a warning, 2 a failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from receiptd.emulator import Emulator
from receiptd.printer import ADVICE, PrinterState
from receiptd.testing.loopback import free_port  # a port nothing listens on: a dead printer

from ..support import TOKENS, DaemonProcess, wait_until

Factory = Callable[..., DaemonProcess]


def doctor(url: str, *args: str, token: str = TOKENS["admin"]) -> tuple[int, str, Any]:
    """Run it twice: the text a merchant reads, and --json to check the findings exactly."""
    base = [sys.executable, "-m", "receiptd.cli.ctl", "--url", url, "--token", token, "doctor"]
    text = subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)
    js = subprocess.run([*base, *args, "--json", "--no-print"], capture_output=True, text=True,
                        timeout=120)
    return text.returncode, text.stdout + text.stderr, json.loads(js.stdout)


def finding(report: Any, step: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["step"] == step]
    assert found, f"no {step!r} step in {report}"
    return found[0]


def test_healthy_printer_passes_with_a_confirmed_test_print(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"})
    d.wait_state("online")
    code, out, report = doctor(d.url, "front")
    assert code == 0, out
    for step in ("daemon", "link", "status", "paper/cover/errors", "test print", "journal",
                 "disk", "clock"):
        assert f"PASS  {step}" in out, (step, out)
    assert "printed and confirmed by the printer" in out
    assert "receiptd doctor test print" in emulator.transcript.text()
    assert report["result"] == "ok"
    assert finding(report, "test print")["result"] == "skip"  # --no-print
    assert "EPSON TM-T88V" in finding(report, "status")["detail"]


# fault, state, exit code
CASES: list[tuple[str, PrinterState, int]] = [
    ("paper_out", PrinterState.PAPER_OUT, 2),
    ("cover_open", PrinterState.COVER_OPEN, 2),
    ("cutter_error", PrinterState.CUTTER_ERROR, 2),
    ("jam", PrinterState.MECHANICAL_ERROR, 2),
    ("near_end", PrinterState.PAPER_NEAR_END, 1),
]


def test_each_fault_is_reported_with_its_advice_and_exit_code(
    daemon_factory: Factory, emulator: Emulator
) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"})
    d.wait_state("online")
    for fault, state, expected in CASES:
        emulator.inject(fault)
        d.wait_state(state.value)
        code, out, report = doctor(d.url, "front", "--timeout", "30")
        assert code == expected, (fault, out)
        step = finding(report, "paper/cover/errors")
        assert step["result"] == ("fail" if expected == 2 else "warn"), (fault, report)
        assert step["action"] == ADVICE[state].en
        assert ADVICE[state].en in out
        if expected == 2:
            assert "not tried while the printer reports a fault" in out, out
            assert "-> Fix the fault above" in out
        else:  # a warning: printing goes on, and the test print proves it
            assert "printed and confirmed by the printer" in out, out
        emulator.clear(fault)
        d.wait_state("online")
    emulator.inject("silent")
    d.wait_state("offline")
    code, out, report = doctor(d.url, "front")
    assert code == 2, out
    assert finding(report, "status")["result"] == "fail"
    assert "does not answer status" in out and "Switch the printer off and on" in out
    emulator.clear("silent")
    d.wait_state("online")
    code, out, _ = doctor(d.url, "front", "--no-print")
    assert code == 0, out


def test_absent_printer_and_unreachable_daemon(daemon_factory: Factory) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{free_port()}?connect_timeout=0.5"})
    wait_until(lambda: d.printer()["state"] == "offline", what="offline")
    code, out, report = doctor(d.url)
    assert code == 2, out
    link = finding(report, "link")
    assert link["result"] == "fail" and "not found" in link["detail"]
    assert "network cable" in link["action"]
    assert finding(report, "journal")["result"] == "ok"
    assert finding(report, "clock")["result"] == "ok"
    # the wrong token: a failure that says what to do
    code, out, _ = doctor(d.url, token=TOKENS["pos"])
    assert code == 2 and "admin token" in out, out
    d.kill()
    code, out, report = doctor(d.url)
    assert code == 2, out
    daemon = finding(report, "daemon")
    assert daemon["result"] == "fail" and "systemctl start receiptd" in daemon["action"]

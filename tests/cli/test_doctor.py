"""``receiptctl doctor`` as a subprocess against the real daemon and the emulator.

Each injected fault must come out as the failing (or warning) step with the printer's own
advice and the right exit code: 0 all ok, 1 a warning, 2 a failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import receiptd
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
    for step in ("daemon", "link", "status", "paper/cover/errors", "test print", "text",
                 "journal", "disk", "clock"):
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


EMPTY_FONTCONFIG = ('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
                    "<fontconfig></fontconfig>\n")


def install_without_fonts(tmp_path: Path) -> dict[str, str]:
    """The environment of a daemon whose install lost its package data (a copy of the
    package without ``receiptd/fonts``, first on the path) on a machine where fontconfig
    finds no font: nothing can draw Chinese, Japanese or Korean."""
    site = tmp_path / "site"
    shutil.copytree(Path(receiptd.__file__).parent, site / "receiptd",
                    ignore=shutil.ignore_patterns("fonts", "__pycache__"))
    conf = tmp_path / "fonts-empty.conf"
    conf.write_text(EMPTY_FONTCONFIG)
    return {"PYTHONPATH": str(site), "FONTCONFIG_FILE": str(conf)}


def test_text_step_passes_and_says_how_cjk_prints(
    tmp_path: Path, daemon_factory: Factory, emulator: Emulator
) -> None:
    config = tmp_path / "receiptd.toml"
    config.write_text('[printers.front.profile_overrides]\ndouble_byte = "gb18030"\n')
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"},
                       extra_args=["--config", str(config)])
    d.wait_state("online")
    code, out, report = doctor(d.url, "front", "--no-print")
    assert code == 0, out
    text = finding(report, "text")
    assert text["result"] == "ok" and text["printer"] == "front"
    # Chinese by the printer's own GB18030 set; Hangul (not in GBK) drawn in a font
    assert "Chinese (simplified), Chinese (traditional), Japanese by the printer's gb18030 " \
           "set" in text["detail"], text
    assert "Korean drawn in " in text["detail"]


def test_missing_fonts_fail_the_text_step_with_the_fix(
    tmp_path: Path, daemon_factory: Factory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # ``python -m`` puts the working directory first on the path
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"},
                       extra_env=install_without_fonts(tmp_path))
    d.wait_state("online")
    assert d.printer()["text"]["shipped_font"] is None  # the daemon runs the broken copy
    code, out, report = doctor(d.url, "front", "--no-print")
    assert code == 2, out
    text = finding(report, "text")
    assert text["result"] == "fail" and text["printer"] == "front"
    for script in ("Chinese (simplified)", "Chinese (traditional)", "Japanese", "Korean"):
        assert script in text["detail"]
    assert "Chinese (simplified) (收银小票" in text["detail"]
    assert "unprintable_text" in text["detail"]
    assert "Reinstall receiptd" in text["action"]
    assert "apt-get install fonts-noto-cjk" in text["action"]
    assert "double_byte" in text["action"] and "[printers.front.profile_overrides]" in \
        text["action"]
    assert "FAIL  text" in out and "-> Reinstall receiptd" in out
    # what the merchant would meet: such a receipt is refused, not printed as "????"
    r = d.clients["pos"].post("/v1/printers/front/receipts", json={"text": "收银小票"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unprintable_text", r.text
    assert "reinstall receiptd" in r.json()["error"]["message"]

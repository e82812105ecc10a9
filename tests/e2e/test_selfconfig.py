"""A printer set up by what it says it is: the real daemon, the emulator answering GS I (or
Star's version line) on loopback TCP, ``receiptctl doctor`` as a subprocess.

A setting the config leaves out follows the identity; a setting it names wins, and the
disagreement is a warning with the suggestion in the health API and in ``doctor``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from receiptd.emulator import Emulator, Identity

from ..support import TOKENS, DaemonProcess, wait_until

Factory = Callable[..., DaemonProcess]
CHINESE_T20 = Identity(maker="EPSON", model="TM-T20II", firmware="1.01 ESC/POS",
                       font="CHINA GB2312")


@pytest.fixture
def t20() -> Iterator[Emulator]:
    emu = Emulator(speed_mm_s=2000.0, identity=CHINESE_T20)
    emu.start_tcp()
    try:
        yield emu
    finally:
        emu.stop()


def health(d: DaemonProcess) -> dict[str, Any]:
    r = d.clients["admin"].get("/v1/printers/front")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def identified(d: DaemonProcess) -> dict[str, Any]:
    """The health detail once the printer's font of language (the last identity answer) is in."""
    return wait_until(lambda: (h := health(d))["identity"].get("font") and h, timeout=15,
                      what="the printer's identity in the health detail")


def doctor_findings(d: DaemonProcess) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "receiptd.cli.ctl", "--url", d.url, "--token", TOKENS["admin"],
         "doctor", "front", "--json", "--no-print"], capture_output=True, text=True, timeout=120)
    findings: list[dict[str, Any]] = json.loads(out.stdout)["findings"]
    return findings


def test_what_the_config_leaves_out_follows_the_printers_identity(
        daemon_factory: Factory, t20: Emulator) -> None:
    d = daemon_factory({"front": t20.tcp_url})
    h = identified(d)
    assert h["identity"]["model"] == "TM-T20II"
    assert h["profile"] == "TM-T20II"
    setup = h["setup"]
    assert setup["profile"] == "TM-T20II" and setup["double_byte"] == "gb18030"
    assert setup["source"] == {"profile": "identity", "double_byte": "identity",
                               "dialect": "default"}
    assert setup["suggested"] == {"profile": "TM-T20II", "dialect": "escpos",
                                  "double_byte": "gb18030"}
    assert setup["warnings"] == []
    # Chinese goes out in the printer's own double-byte set, not as a picture.
    receipt = d.submit({"text": "收银小票 合计 9.40"})
    wait_until(lambda: d.clients["pos"].get(f"/v1/receipts/{receipt['id']}").json()["state"]
               == "printed", timeout=20, what="the receipt printed")
    assert "收银小票" in t20.transcript.text()
    setup_steps = [f for f in doctor_findings(d) if f["step"] == "setup"]
    assert [f["result"] for f in setup_steps] == ["ok"], setup_steps
    assert "profile TM-T20II (identity)" in setup_steps[0]["detail"]


def test_a_named_setting_wins_and_the_disagreement_is_a_warning(
        daemon_factory: Factory, t20: Emulator) -> None:
    d = daemon_factory({"front": f"{t20.tcp_url}?profile=TM-T88V"})
    h = identified(d)
    assert h["profile"] == "TM-T88V"
    setup = h["setup"]
    assert setup["source"]["profile"] == "config"
    assert setup["double_byte"] == "gb18030"  # not named: still follows the printer
    assert [(w["setting"], w["configured"], w["suggested"]) for w in setup["warnings"]] == [
        ("profile", "TM-T88V", "TM-T20II")]
    steps = [f for f in doctor_findings(d) if f["step"] == "setup"]
    assert [f["result"] for f in steps] == ["warn"], steps
    assert "TM-T20II" in steps[0]["detail"] and "TM-T20II" in steps[0]["action"]
    assert "printer_config_mismatch" in d.log_path.read_text()


def test_a_star_printer_needs_only_its_dialect(daemon_factory: Factory) -> None:
    emu = Emulator(speed_mm_s=2000.0, dialect="star")
    emu.start_tcp()
    try:
        d = daemon_factory({"front": f"{emu.tcp_url}?dialect=star"})
        h = wait_until(lambda: (x := health(d))["identity"].get("model") and x, timeout=15,
                       what="the Star printer's version line")
        assert h["dialect"] == "star"
        assert h["setup"]["profile"] == "TSP600"
        receipt = d.submit({"text": "Star receipt"})
        wait_until(lambda: d.clients["pos"].get(f"/v1/receipts/{receipt['id']}").json()["state"]
                   == "printed", timeout=20, what="the Star receipt printed")
        assert "Star receipt" in emu.transcript.text()
    finally:
        emu.stop()

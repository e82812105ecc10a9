"""Hardware qualification suite (see hwtests/README.md).

    RECEIPTD_HW_PRINTER=usb://04b8:0e28 .venv/bin/pytest hwtests -s -k hardware

runs it against a real printer with an operator at the terminal; without the variable the
hardware case is skipped and the same code runs against the emulator, the operator's steps
done by fault injection (part of `make test`): the ESC/POS qualification behind a pty, the
Star one (`Emulator(dialect="star")`, Line Mode and raster only) over TCP and behind a pty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiptd.emulator import Emulator

from .qualify import EmulatorOperator, TerminalOperator, qualify

ENV = "RECEIPTD_HW_PRINTER"


@pytest.fixture
def emulator_pty(tmp_path: Path) -> Iterator[tuple[Emulator, str]]:
    emu = Emulator(speed_mm_s=2000.0)
    link = tmp_path / "printer"
    emu.start_pty(link=str(link))
    try:
        yield emu, f"serial://{link}"
    finally:
        emu.stop()


def test_qualification_emulator(tmp_path: Path, emulator_pty: tuple[Emulator, str]) -> None:
    emu, url = emulator_pty
    report = qualify(url, "emulator", EmulatorOperator(emu), tmp_path,
                     saw_cut=lambda: "[CUT]" in emu.transcript.text(), fault_timeout=20)
    json_path, text_path = report.write(tmp_path / "report")
    summary = text_path.read_text()
    print(summary)
    assert report.ok, summary
    # The emulator implements every probed feature: a "no" here is a bug in the probe.
    missing = [f.name for f in report.features if not f.supported]
    assert not missing, summary
    assert report.identity["model"] == "TM-T88V"
    assert report.confirmation == "process_id"
    assert [s.name for s in report.steps] == ["cover", "paper", "cable"]
    assert '"ok": true' in json_path.read_text()


@pytest.mark.parametrize(("transport", "dialect"), [
    ("tcp", "star"), ("pty", "star"), ("tcp", None)])
def test_qualification_emulator_star(tmp_path: Path, transport: str,
                                     dialect: str | None) -> None:
    """The Star checks against the emulator's Star dialect. ``dialect=None``: the URL names
    none, so the qualification asks the printer, as a shop's run without ``dialect=`` does
    (the emulator says it is a TSP143IIIU: raster only)."""
    emu = Emulator(speed_mm_s=2000.0, dialect="star")
    try:
        if transport == "tcp":
            base = f"tcp://127.0.0.1:{emu.start_tcp()}"
        else:
            emu.start_pty(link=str(tmp_path / "printer"))
            base = f"serial://{tmp_path / 'printer'}"
        url = f"{base}?dialect={dialect}" if dialect else base
        report = qualify(url, "emulator", EmulatorOperator(emu), tmp_path / "run",
                         saw_cut=lambda: "[CUT]" in emu.transcript.text(), fault_timeout=20,
                         slips=lambda: emu.transcript.slips())
    finally:
        emu.stop()
    json_path, text_path = report.write(tmp_path / "report")
    summary = text_path.read_text()
    print(summary)
    assert report.ok, summary
    missing = [f.name for f in report.features if not f.supported]
    assert not missing, summary
    assert report.dialect == (dialect or "star_raster")
    assert report.identity["model"] == "TSP143IIIU"
    assert report.confirmation == "process_id"  # proven by the ETB counter
    assert [s.name for s in report.steps] == ["cover", "paper", "cable", "reprint"]
    assert '"ok": true' in json_path.read_text()
    assert "(the ETB counter)" in summary


def test_qualification_hardware(tmp_path: Path) -> None:
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(f"{ENV} not set: no real printer to qualify (e.g. {ENV}=usb://04b8:0e28, "
                    f"or a Star TSP143 {ENV}='usb://0519:0003?dialect=star_raster'; "
                    "pytest hwtests -s -k hardware)")
    operator = TerminalOperator()
    try:
        report = qualify(url, "hardware", operator, tmp_path, saw_cut=lambda: False,
                         fault_timeout=float(os.environ.get("RECEIPTD_HW_TIMEOUT", "120")))
    finally:
        operator.close()
    out = Path(os.environ.get("RECEIPTD_HW_REPORT_DIR", "."))
    json_path, text_path = report.write(out)
    summary = text_path.read_text()
    print(f"\n{summary}\nreport: {json_path}\n        {text_path}")
    # Features are recorded, not required: the report says what this model can do.
    assert report.ok, summary

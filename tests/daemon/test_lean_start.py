"""What ``receiptd run`` leaves out of an idle daemon's memory (bench/memory.py), beyond
rendering (tests/daemon/test_ready_imports.py): the ``discover`` command's probes, PyYAML,
wcwidth, ``importlib.metadata`` with ``zipfile`` (pydantic's plugin loader stood in for by
``receiptd.cli``), click and ``multiprocessing`` (uvicorn's command line, likewise), the
table of HTML entities (``html`` stood in for until first used); and the unit's allocator
setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from receiptd.cli.daemon import main

ROOT = Path(__file__).resolve().parents[2]
NOT_AT_START = ("receiptd.cli.discover", "receiptd.links.discover", "yaml", "wcwidth",
                "escpos", "importlib.metadata", "zipfile", "click", "multiprocessing",
                "html.entities")

_CHILD = r"""
import json, sys
from pathlib import Path

import receiptd.cli.daemon, receiptd.daemon.serve
from receiptd.api.app import create_app
from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon

daemon = Daemon(load_config(None, journal=Path(sys.argv[1]),
                            printers=["front=tcp://127.0.0.1:9"]))
daemon.open_journal()
create_app(daemon)
names = json.loads(sys.argv[2])
print(json.dumps(sorted(n for n in names if sys.modules.get(n) is not None)))
"""


def test_the_idle_daemon_has_not_imported_discovery_yaml_or_wcwidth(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "journal.db"), json.dumps(NOT_AT_START)],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
        env={"ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos"),
             "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_discover_still_has_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["discover", "--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    assert "--probe" in usage and "--scan" in usage and "--timeout" in usage
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "discover" in capsys.readouterr().out


def test_the_unit_keeps_malloc_to_two_arenas() -> None:
    unit = ROOT / "systemd" / "receiptd.service"
    lines = [line.strip() for line in unit.read_text().splitlines()]
    assert "Environment=MALLOC_ARENA_MAX=2" in lines

"""What the ``receiptd discover`` tests share: running the command in process, its JSON
rows of one kind, and the TOML snippet it prints loaded as a real daemon's config file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from receiptd.cli.daemon import main

from ..support import DaemonProcess


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``receiptd discover ARGS``: its exit code and what it printed."""
    capsys.readouterr()
    code = main(["discover", *args])
    return code, capsys.readouterr().out


def found(capsys: pytest.CaptureFixture[str], *args: str, kind: str) -> list[dict[str, Any]]:
    """The ``--json`` rows of one kind (``usb``, ``serial``, ``tcp``)."""
    code, out = run(capsys, "--json", *args)
    assert code == 0
    return [row for row in json.loads(out)["found"] if row["kind"] == kind]


def snippet_config(tmp_path: Path, snippet: str) -> Path:
    """The snippet written where a daemon reads it as its config file."""
    config = tmp_path / "receiptd.toml"
    config.write_text(snippet)
    return config


def daemon_from_snippet(daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
                        snippet: str, **kw: Any) -> DaemonProcess:
    """A daemon process whose only configuration is the snippet (and ``kw`` for the
    factory: ``extra_env``)."""
    return daemon_factory({}, extra_args=["--config", str(snippet_config(tmp_path, snippet))],
                          **kw)

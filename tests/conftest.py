"""Shared fixtures: a real emulated printer on loopback, and the real daemon as a subprocess.

The helpers behind them live in ``tests/support.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from receiptd.emulator import Emulator

from .support import DaemonProcess

pytest_plugins = ["tests.strict_skips"]

# A per-example deadline is a timed assertion: off everywhere, as Hypothesis's own CI profile
# has it (the profile in force is the parent, so CI's other settings stay).
settings.register_profile("receiptd", parent=settings.default, deadline=None)
settings.load_profile("receiptd")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(speed_mm_s=2000.0)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    made: list[DaemonProcess] = []

    def make(printers: dict[str, str], **kw: Any) -> DaemonProcess:
        d = DaemonProcess(tmp_path, printers, **kw)
        made.append(d)
        d.start()
        return d

    yield make
    for d in made:
        d.close()

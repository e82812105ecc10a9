"""The emulator tests' host: a raw TCP client connected to the ``emu`` fixture each test
module defines (their emulators differ in fault timings)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from receiptd.emulator import Emulator

from ..emulator_helpers import Host


@pytest.fixture
def host(emu: Emulator) -> Iterator[Host]:
    assert emu.tcp is not None
    h = Host(emu.tcp.port)
    emu.wait(lambda e: e.tcp is not None and e.tcp.connected)
    try:
        yield h
    finally:
        h.close()

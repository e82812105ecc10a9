"""A private cupsd with a raw queue on ``receiptd://front``, in front of the real daemon and an
emulated printer. CUPS is part of ``make test`` (ci/apt-packages.txt: cups, cups-client); where
it cannot run the tests skip and say why, which fails the run under CI=true."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from receiptd.emulator import Emulator
from receiptd.testing.cups import PrivateCups, unavailable

from ..support import TOKENS, DaemonProcess


@dataclass
class Rig:
    emu: Emulator
    daemon: DaemonProcess
    cups: PrivateCups


def need_cups() -> None:
    why = unavailable()
    if why is not None:
        pytest.skip(f"needs a private cupsd: {why}")


def write_backend_config(cups: PrivateCups, daemon: DaemonProcess, token: str) -> None:
    cups.backend_config.write_text(f'url = "{daemon.url}"\ntoken = "{token}"\n')


@pytest.fixture
def cups_factory() -> Iterator[Callable[..., PrivateCups]]:
    made: list[PrivateCups] = []

    def make(daemon: DaemonProcess, token: str = TOKENS["pos"], **kw: Any) -> PrivateCups:
        need_cups()
        cups = PrivateCups(**kw)
        made.append(cups)
        write_backend_config(cups, daemon, token)
        cups.start()
        cups.add_queue("front", "receiptd://front")
        return cups

    yield make
    for cups in made:
        cups.stop()


@pytest.fixture
def rig(emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
        cups_factory: Callable[..., PrivateCups]) -> Rig:
    need_cups()
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    return Rig(emulator, daemon, cups_factory(daemon))

"""A journal on a real file in the test's directory, on a clock the test sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiptd.journal import Journal

from .clocks import Clock


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def j(path: Path, clock: Clock) -> Iterator[Journal]:
    with Journal(path, clock=clock) as journal:
        yield journal

"""A clock the journal tests set by hand (``Journal(clock=...)``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

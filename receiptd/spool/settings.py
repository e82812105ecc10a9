"""A spooler's settings, and what became of one print (for the metrics)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SpoolSettings:
    confirm_timeout_s: float = 20.0
    slowest_mm_per_s: float = 20.0  # generous: a printer slowed by heat or a weak supply
    slowest_bytes_per_s: float = 960.0  # 9600 baud serial
    status_confirm_mm_per_s: float = 100.0
    # The send window (process-ID confirmation only): prints and bytes unconfirmed at once.
    # 1 print = stop-and-wait. Bytes: no more than a typical receive buffer (4 KB) holds.
    window_prints: int = 1
    window_bytes: int = 4096
    # Attempts in a row a print may be interrupted before it waits for a person.
    max_attempts: int = 5
    # A print that waited longer than this through a fault is held when it clears (0 = off).
    hold_after_s: float = 0.0
    # How long the spooler sleeps with nothing to print: everything that queues a print wakes
    # it, so this only bounds its heartbeat (and a wake-up that went missing).
    idle_wait_s: float = 2.0


@dataclass(frozen=True)
class Outcome:
    printed: bool
    reason: str
    confirmation: str | None = None
    result: str = ""  # printed | interrupted | held | failed ("": from ``printed``)

    @property
    def kind(self) -> str:
        return self.result or ("printed" if self.printed else "interrupted")

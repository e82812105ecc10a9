"""A printer's remembered past: fault episodes, time per fault state, MTTR, paper rolls.

Built from the journal's printer events (so it survives restarts and follows retention), then
kept up to date in memory from each new event. Rules:

* A *fault episode* starts with the first event into a fault state and ends with the first
  event into a ready state (``online``/``paper_near_end``). ``unknown`` (daemon stopping or
  starting) neither starts nor ends one: a printer that was out of paper before a restart
  and is still out after it had one outage. Mean time to recovery is the mean episode length.
* Time in each fault state is summed per state, as is the number of times it was entered.
* A *new roll* is assumed when the paper-end flag (or ``paper_out``) is followed by a ready
  state, or the near-end flag by ``online``. Paper used since then is the journal's
  ``paper_mm`` counter now minus its value recorded in that event (``detail.paper_mm``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from receiptd.journal import Journal, PrinterEvent
from receiptd.printer import FAULT_STATES, READY_STATES, PrinterState

#: Warn when the estimated paper left on the roll falls below this share of the roll ...
PAPER_LOW_FRACTION = 0.10
#: ... or below this many millimetres, whichever is larger.
PAPER_LOW_MIN_MM = 1000.0
#: How many past events are replayed at start (newest kept): bounds start-up work.
HISTORY_EVENTS_MAX = 20000


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


@dataclass
class _Episode:
    started: float
    states: set[str]


class PrinterHistory:
    """Fault counts, durations, MTTR and roll tracking of one printer. Thread-safe."""

    def __init__(self, printer: str) -> None:
        self.printer = printer
        self._lock = threading.Lock()
        self._first_at: float | None = None
        self._state: str | None = None
        self._state_at: float | None = None
        self._flag_since: dict[str, float] = {}
        self._faults: dict[str, dict[str, float]] = {}
        self._episode: _Episode | None = None
        self._recovered = 0
        self._recovery_s = 0.0
        self._paper_out_seen = False
        self._paper_low_seen = False
        self._roll_loaded_at: float | None = None
        self._roll_base_mm: float | None = None
        self._events = 0

    def load(self, journal: Journal) -> None:
        """Replay the printer's remembered events, oldest first."""
        events: list[PrinterEvent] = []
        before: int | None = None
        while len(events) < HISTORY_EVENTS_MAX:
            page = journal.events.list(self.printer, limit=1000, before_id=before)
            events.extend(page)
            if len(page) < 1000:
                break
            before = page[-1].id
        for event in reversed(events):
            self.feed(event)

    def feed(self, event: PrinterEvent) -> None:
        at = event.at.timestamp()
        flags = [str(f) for f in event.detail.get("flags", [])]
        with self._lock:
            self._events += 1
            if self._first_at is None:
                self._first_at = at
            self._close_state(at)
            self._state, self._state_at = event.state, at
            self._track_flags(flags, at)
            self._track_roll(event, flags, at)
            state = _state(event.state)
            if state in FAULT_STATES:
                entry = self._faults.setdefault(event.state, {"count": 0, "seconds": 0.0})
                entry["count"] += 1
                if self._episode is None:
                    self._episode = _Episode(at, set())
                self._episode.states.add(event.state)
            elif state in READY_STATES and self._episode is not None:
                self._recovered += 1
                self._recovery_s += max(0.0, at - self._episode.started)
                self._episode = None

    def _close_state(self, at: float) -> None:
        if self._state is not None and self._state_at is not None:
            entry = self._faults.get(self._state)
            if entry is not None and _state(self._state) in FAULT_STATES:
                entry["seconds"] += max(0.0, at - self._state_at)

    def _track_flags(self, flags: list[str], at: float) -> None:
        for name in list(self._flag_since):
            if name not in flags:
                del self._flag_since[name]
        for name in flags:
            self._flag_since.setdefault(name, at)

    def _track_roll(self, event: PrinterEvent, flags: list[str], at: float) -> None:
        state = _state(event.state)
        new_roll = (self._paper_out_seen and state in READY_STATES) or (
            self._paper_low_seen and state == PrinterState.ONLINE
        )
        if new_roll:
            self._paper_out_seen = self._paper_low_seen = False
            self._roll_loaded_at = at
            mm = event.detail.get("paper_mm")
            self._roll_base_mm = float(mm) if isinstance(mm, int | float) else None
            return
        if state == PrinterState.PAPER_OUT or "paper_end" in flags:
            self._paper_out_seen = True
        if state == PrinterState.PAPER_NEAR_END or "paper_near_end" in flags:
            self._paper_low_seen = True

    def flag_since(self, flag: str) -> float | None:
        with self._lock:
            return self._flag_since.get(flag)

    def summary(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        with self._lock:
            faults = {k: {"count": int(v["count"]), "seconds": round(v["seconds"], 3)}
                      for k, v in self._faults.items()}
            if self._state in faults and self._state_at is not None:
                faults[self._state]["seconds"] = round(
                    faults[self._state]["seconds"] + max(0.0, now - self._state_at), 3)
            current = None
            if self._episode is not None:
                current = {"since": iso(self._episode.started),
                           "seconds": round(max(0.0, now - self._episode.started), 3),
                           "states": sorted(self._episode.states)}
            return {
                "since": iso(self._first_at),
                "events": self._events,
                "faults": faults,
                "outages": self._recovered + (1 if current else 0),
                "recovered": self._recovered,
                "mttr_s": round(self._recovery_s / self._recovered, 3) if self._recovered
                else None,
                "current_outage": current,
            }

    def roll(self, paper_used_mm: float, roll_length_m: float | None) -> dict[str, Any]:
        with self._lock:
            base = self._roll_base_mm
            loaded_at = self._roll_loaded_at
        since_roll = paper_used_mm - (base or 0.0)
        out: dict[str, Any] = {
            "used_mm_total": round(paper_used_mm, 1),
            "roll_loaded_at": iso(loaded_at),
            "used_since_roll_mm": round(max(0.0, since_roll), 1),
            "roll_length_mm": None,
            "roll_remaining_mm": None,
            "low_estimate": False,
        }
        if roll_length_m:
            length = roll_length_m * 1000.0
            remaining = max(0.0, length - since_roll)
            out["roll_length_mm"] = round(length, 1)
            out["roll_remaining_mm"] = round(remaining, 1)
            out["low_estimate"] = remaining < max(length * PAPER_LOW_FRACTION, PAPER_LOW_MIN_MM)
        return out


def _state(value: str) -> PrinterState | None:
    try:
        return PrinterState(value)
    except ValueError:
        return None

"""Printer health for the admin: problems with advice, fault history, paper estimates.

The history is computed from the journal's ``printer_events`` (so it survives restarts and
follows retention) and then kept up to date in memory from each new event. Rules:

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from receiptd.journal import Journal, PrinterEvent
from receiptd.printer import ADVICE, FAULT_STATES, READY_STATES, Advice, PrinterState, Snapshot

#: Warn when the estimated paper left on the roll falls below this share of the roll ...
PAPER_LOW_FRACTION = 0.10
#: ... or below this many millimetres, whichever is larger.
PAPER_LOW_MIN_MM = 1000.0
#: How many past events are replayed at start (newest kept): bounds start-up work.
HISTORY_EVENTS_MAX = 20000

EXTRA_ADVICE: dict[str, Advice] = {
    "paper_low_estimate": Advice(
        "consumable",
        "The paper roll is estimated to be nearly used up: have a new roll ready.",
        "估计纸卷即将用完：请准备新纸卷。",
    ),
    "confirmation_status_only": Advice(
        "software",
        "This printer does not return process IDs: prints are confirmed by status only, "
        "which cannot prove the paper came out. Prefer a model that supports GS ( H.",
        "此打印机不返回处理编号：只能根据状态确认打印，无法证明纸张已出。"
        "建议使用支持 GS ( H 的型号。",
    ),
    "drawer_open": Advice("operator", "The cash drawer is open.", "钱箱未关闭。"),
}

# Status flag → the state whose advice explains it (``offline`` alone says nothing new).
FLAG_STATES: dict[str, PrinterState] = {
    "unrecoverable_error": PrinterState.UNRECOVERABLE_ERROR,
    "cutter_error": PrinterState.CUTTER_ERROR,
    "recoverable_error": PrinterState.MECHANICAL_ERROR,
    "auto_recoverable_error": PrinterState.AUTO_RECOVERABLE_ERROR,
    "cover_open": PrinterState.COVER_OPEN,
    "paper_end": PrinterState.PAPER_OUT,
    "paper_near_end": PrinterState.PAPER_NEAR_END,
}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def advice_dict(code: str, advice: Advice, since: float | None) -> dict[str, Any]:
    return {"code": code, "category": advice.category, "since": iso(since),
            "hint": {"en": advice.en, "zh": advice.zh}}


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
            page = journal.printer_events(self.printer, limit=1000, before_id=before)
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


def problems(
    snap: Snapshot, history: PrinterHistory, paper: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every active problem with its category, since when, and what to do (en/zh)."""
    out: list[dict[str, Any]] = []
    if not snap.connected or snap.state == PrinterState.OFFLINE:
        # Not answering: the flags are what it said last, not what it says now.
        out.append(advice_dict("offline", ADVICE[PrinterState.OFFLINE], snap.since))
    else:
        for flag in snap.flags:
            state = FLAG_STATES.get(flag)
            if state is not None:
                out.append(advice_dict(state.value, ADVICE[state],
                                       history.flag_since(flag) or snap.since))
            elif flag == "drawer_open":
                out.append(advice_dict(flag, EXTRA_ADVICE[flag], history.flag_since(flag)))
        if snap.state in FAULT_STATES and not any(p["code"] == snap.state.value for p in out):
            out.insert(0, advice_dict(snap.state.value, ADVICE[snap.state], snap.since))
    if paper.get("low_estimate") and "paper_end" not in snap.flags:
        out.append(advice_dict("paper_low_estimate", EXTRA_ADVICE["paper_low_estimate"], None))
    if snap.confirmation == "status":
        out.append(advice_dict("confirmation_status_only",
                               EXTRA_ADVICE["confirmation_status_only"], None))
    return out


class Presence:
    """``Link.present()`` with a short cache, asked only while the link is down.

    A TCP probe opens a connection: while the daemon is connected it would compete with the
    printer's single RAW session, and the session being up already proves presence.
    """

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bool]] = {}

    def get(self, name: str, connected: bool, probe: Any) -> bool:
        if connected:
            return True
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        try:
            value = bool(probe())
        except Exception:  # a probe must never break the health API
            value = False
        with self._lock:
            self._cache[name] = (time.monotonic(), value)
        return value


_SHORT = {
    PrinterState.ONLINE: "ready",
    PrinterState.PAPER_NEAR_END: "paper low",
    PrinterState.PAPER_OUT: "paper out",
    PrinterState.COVER_OPEN: "cover open",
    PrinterState.CUTTER_ERROR: "cutter error",
    PrinterState.MECHANICAL_ERROR: "paper jam",
    PrinterState.AUTO_RECOVERABLE_ERROR: "head too hot",
    PrinterState.UNRECOVERABLE_ERROR: "hardware error",
    PrinterState.OFFLINE: "offline",
    PrinterState.UNKNOWN: "connecting",
}


def status_part(name: str, snap: Snapshot, depth: int, in_doubt: int,
                paper_low: bool = False) -> str:
    """One printer in systemd's STATUS= line: ``front: paper out since 14:03, 3 waiting``."""
    text = f"{name}: {_SHORT[snap.state]}"
    if snap.state not in READY_STATES and snap.state != PrinterState.UNKNOWN:
        text += " since " + time.strftime("%H:%M", time.localtime(snap.since))
    elif paper_low and snap.state == PrinterState.ONLINE:
        text += ", roll nearly used up"
    if depth:
        text += f", {depth} waiting"
    if in_doubt:
        text += f", {in_doubt} printing"
    return text


class HealthState:
    """The daemon's health bookkeeping: one history per printer, presence probes, STATUS=."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._histories: dict[str, PrinterHistory] = {}
        self.presence = Presence()
        self.last_status: str | None = None

    def history(self, journal: Journal, printer: str) -> PrinterHistory:
        with self._lock:
            history = self._histories.get(printer)
            if history is None:
                history = PrinterHistory(printer)
                history.load(journal)
                self._histories[printer] = history
            return history

    def on_event(self, journal: Journal, event: PrinterEvent) -> None:
        with self._lock:
            known = event.printer in self._histories
        history = self.history(journal, event.printer)  # a fresh load includes this event
        if known:
            history.feed(event)


def detail(daemon: Any, printer: str, snap: Snapshot, stats: Any) -> dict[str, Any]:
    """The health fields beyond the basic snapshot (``Daemon.printer_health``)."""
    journal: Journal = daemon.journal()
    state: HealthState = daemon.health
    cfg = daemon.config.printers[printer]
    history = state.history(journal, printer)
    counters = journal.counters(printer)
    paper = history.roll(float(counters.get("paper_mm", 0.0)), cfg.roll_length_m)
    session = daemon.sessions[printer]
    present = state.presence.get(printer, snap.connected, session.link.present)
    oldest = stats.oldest_queued_at
    age = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else None
    return {
        "address": snap.url,
        "present": present,
        "problems": problems(snap, history, paper),
        "queue_oldest_age_s": round(age, 3) if age is not None else None,
        "maintenance": {**snap.maintenance, "at": iso(snap.maintenance_at)},
        "paper": paper,
        "history": {
            **history.summary(),
            "printed": int(counters.get("printed_originals", 0)),
            "copies_printed": int(counters.get("copies_printed", 0)),
            "reprints_requested": int(counters.get("reprints_requested", 0)),
            "reprints_interrupted": int(counters.get("interrupted_retries", 0)),
        },
    }


def status_line(daemon: Any) -> str:
    """systemd's one-line STATUS=: each printer, its trouble since when, and what waits."""
    journal: Journal = daemon.journal()
    parts = []
    for name, session in daemon.sessions.items():
        snap = session.snapshot()
        stats = journal.queue_stats(name)
        paper_low = False
        roll = daemon.config.printers[name].roll_length_m
        if roll:
            history = daemon.health.history(journal, name)
            used = float(journal.counters(name).get("paper_mm", 0.0))
            paper_low = bool(history.roll(used, roll)["low_estimate"])
        parts.append(status_part(name, snap, stats.depth, stats.in_doubt, paper_low))
    return "; ".join(parts) or "no printers configured"


def idle_check(spooler: Any) -> Callable[[], bool]:
    """True while the spooler sends nothing (it sets ``busy`` before its first byte)."""
    return lambda: not spooler.busy

"""Printer health for the admin: what is wrong now with advice, and the one-line STATUS.

Besides the printer's own state, the health view shows what the daemon could not do with a
receipt: prints ``held`` for a person after too many interrupted attempts in a row, prints
that ``failed`` (with the reason) and a printer's workers that recovered from an error.

The history behind it (fault episodes, MTTR, paper rolls) is ``monitor.history``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from receiptd.config import Config
from receiptd.journal import Journal, Print, PrinterEvent, format_ts, utcnow
from receiptd.monitor.exposition import Family, gauge
from receiptd.monitor.history import PrinterHistory, iso
from receiptd.printer import (
    ADVICE,
    FAULT_STATES,
    READY_STATES,
    Advice,
    PrinterSession,
    PrinterState,
    Snapshot,
    describe,
)
from receiptd.render.profiles import Profile

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
    "print_held": Advice(
        "operator",
        "A receipt was interrupted several times in a row and is held, so that it does not "
        "feed paper in a loop: check the printer and its paper, then reprint the receipt "
        "(receiptctl reprint ID) or recover the printer (receiptctl recover).",
        "有收据连续多次打印中断，已暂停以免反复走纸：请检查打印机和纸张，然后重新打印该收据"
        "（receiptctl reprint ID）或恢复打印机（receiptctl recover）。",
    ),
    "print_failed": Advice(
        "software",
        "A receipt could not be printed and was marked failed (the reason is on the receipt); "
        "the printer went on with the next one. Submit it again if it is still needed.",
        "有收据无法打印，已标记为失败（原因见该收据）；打印机已继续打印后续收据。"
        "如仍需要，请重新提交。",
    ),
    "worker_error": Advice(
        "software",
        "receiptd recovered from an internal error on this printer; receipts in flight were "
        "printed again under a REPRINT marker. If it happens again, send the log to support.",
        "receiptd 已从此打印机的内部错误中恢复；正在打印的收据已带“重印”标记重新打印。"
        "如再次发生，请将日志发送给技术支持。",
    ),
}
#: How long a failed print stays a problem in the health view (it stays on its receipt).
FAILED_SHOWN = timedelta(hours=24)

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


def advice_dict(code: str, advice: Advice, since: float | None) -> dict[str, Any]:
    return {"code": code, "category": advice.category, "since": iso(since),
            "hint": {"en": advice.en, "zh": advice.zh}}




def problems(
    snap: Snapshot, history: PrinterHistory, paper: dict[str, Any],
    held: list[Print] | None = None, failed: list[Print] | None = None,
    workers: Mapping[str, WorkerRecord] | None = None,
) -> list[dict[str, Any]]:
    """Every active problem with its category, since when, and what to do (en/zh)."""
    out: list[dict[str, Any]] = []
    for code, prints in (("print_held", held), ("print_failed", failed)):
        if prints:
            entry = advice_dict(code, EXTRA_ADVICE[code], min(
                p.created_at.timestamp() if code == "print_held" else
                (p.finished_at or p.created_at).timestamp() for p in prints))
            entry["receipts"] = sorted({p.receipt_id for p in prints})
            out.append(entry)
    if workers and any(w.errors for w in workers.values()):
        last = max((w for w in workers.values() if w.errors), key=lambda w: w.at)
        entry = advice_dict("worker_error", EXTRA_ADVICE["worker_error"], last.at)
        entry["error"] = last.error
        out.append(entry)
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
                paper_low: bool = False, held: int = 0) -> str:
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
    if held:
        text += f", {held} held"
    return text


@dataclass
class WorkerRecord:
    """What went wrong in one worker thread (``spool-front``, ...) and was survived."""

    errors: int = 0
    restarts: int = 0  # the thread itself died and was started again
    error: str | None = None
    at: float = 0.0  # Unix time of the last error


#: The stable error code of a journal the background check found damaged (the API's 503s,
#: ``/healthz``, the log event, the metric all say it).
JOURNAL_DAMAGED_CODE = "journal_corrupt"


class JournalCheckReport:
    """What the background journal integrity check found, for health, metrics and the log.

    ``state``: ``pending`` (not started: the daemon is READY before it runs), ``running``,
    ``ok``, ``damaged`` (the daemon stops accepting new work), or ``failed`` (the check itself
    could not read the file: not proof of damage, reported as such). Written by the check's
    thread, read anywhere: each field is replaced whole under a lock.
    """

    STATES = ("pending", "running", "ok", "damaged", "failed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state = "pending"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.chunks_done = 0
        self.chunks_total = 0
        self.current: str | None = None
        self.problems: list[str] = []
        self.error: str | None = None

    @property
    def damaged(self) -> bool:
        return self.state == "damaged"

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return round((self.finished_at or time.time()) - self.started_at, 3)

    def begin(self) -> None:
        with self._lock:
            self.state, self.started_at = "running", time.time()

    def progress(self, done: int, total: int, current: str) -> None:
        with self._lock:
            self.chunks_done, self.chunks_total, self.current = done, total, current

    def finish(self, problems: list[str]) -> None:
        with self._lock:
            self.problems = list(problems)
            self.state = "damaged" if problems else "ok"
            self.finished_at, self.current = time.time(), None
            if not problems:
                self.chunks_done = self.chunks_total

    def fail(self, error: str) -> None:
        with self._lock:
            self.state, self.error = "failed", error
            self.finished_at, self.current = time.time(), None

    def message(self, path: str) -> str:
        """The operator's sentence for a damaged journal."""
        shown = "; ".join(self.problems[:3])
        return (f"journal {path} is damaged ({shown}): receiptd accepts nothing new until it is "
                "replaced; receipts already accepted are kept and still print. Stop receiptd "
                f"and run `receiptd journal-check --journal {path}`")

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": self.state,
                "code": JOURNAL_DAMAGED_CODE if self.state == "damaged" else None,
                "started_at": iso(self.started_at) if self.started_at else None,
                "finished_at": iso(self.finished_at) if self.finished_at else None,
                "seconds": self.seconds,
                "chunks_done": self.chunks_done,
                "chunks_total": self.chunks_total,
                "checking": self.current,
                "problems": list(self.problems),
                "error": self.error,
            }

    def collect(self) -> Iterator[Family]:
        """``receiptd_journal_check_*`` for Prometheus (a collector of the daemon's registry)."""
        state = Family("receiptd_journal_check_state",
                       "background journal integrity check: 1 for its state", labels=["state"])
        for name in self.STATES:
            state.add([name], 1.0 if self.state == name else 0.0)
        yield state
        yield gauge("receiptd_journal_check_problems",
                    "problems the last journal integrity check found", float(len(self.problems)))
        yield gauge("receiptd_journal_check_seconds",
                    "how long the journal integrity check ran (so far)", float(self.seconds or 0.0))
        yield gauge("receiptd_journal_check_progress_ratio",
                    "share of the journal's tables checked",
                    self.chunks_done / self.chunks_total if self.chunks_total else 0.0)


class HealthState:
    """The daemon's health bookkeeping: one history per printer, presence probes, STATUS=."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._histories: dict[str, PrinterHistory] = {}
        self.presence = Presence()
        self.last_status: str | None = None
        self.workers: dict[str, WorkerRecord] = {}
        self.journal_check = JournalCheckReport()

    def worker_error(self, worker: str, error: str, *, restarted: bool = False) -> None:
        """A worker survived an error (``restarted``: its thread died and was started again)."""
        with self._lock:
            record = self.workers.setdefault(worker, WorkerRecord())
            record.errors += 1
            record.restarts += int(restarted)
            record.error, record.at = error, time.time()

    def printer_workers(self, printer: str) -> dict[str, WorkerRecord]:
        with self._lock:
            return {kind: WorkerRecord(**vars(self.workers.get(f"{kind}-{printer}",
                                                                 WorkerRecord())))
                    for kind in ("printer", "state", "spool")}

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


class Fleet(Protocol):
    """What health and metrics read of the running daemon."""

    @property
    def config(self) -> Config: ...

    @property
    def health(self) -> HealthState: ...

    @property
    def sessions(self) -> Mapping[str, PrinterSession]: ...

    def journal(self) -> Journal: ...

    def profile(self, printer: str) -> Profile: ...

    def setup_report(self, printer: str) -> dict[str, Any]: ...


def text_health(profile: Profile) -> dict[str, Any]:
    """Can this printer print Chinese, Japanese and Korean text, and how: its double-byte
    set, or drawn in a font (``receiptd.render.text.script_support``); which fonts count."""
    from receiptd.render import fonts, glyphs  # rendering: imported on first use
    from receiptd.render.text import script_support

    scripts = script_support(profile)
    return {
        "prints_cjk": all(s["prints"] for s in scripts),
        "double_byte": profile.double_byte,
        "system_fonts": glyphs.system_fonts(),
        "shipped_font": fonts.PACKAGED_FAMILY if fonts.packaged() is not None else None,
        "scripts": scripts,
    }


def printer_health(fleet: Fleet, printer: str) -> dict[str, Any]:
    """Everything the admin's health view shows of one printer."""
    journal = fleet.journal()
    session = fleet.sessions[printer]
    cfg = fleet.config.printers[printer]
    snap = session.snapshot()
    stats = journal.search.queue_stats(printer)
    counters = journal.search.counters(printer)
    history = fleet.health.history(journal, printer)
    paper = history.roll(float(counters.get("paper_mm", 0.0)), cfg.roll_length_m)
    present = fleet.health.presence.get(printer, snap.connected, session.link.present)
    oldest = stats.oldest_queued_at
    age = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else None
    held = journal.search.held_prints(printer) if stats.held else []
    failed = journal.search.failed_prints(printer, since=utcnow() - FAILED_SHOWN)
    workers = fleet.health.printer_workers(printer)
    return {
        "name": printer,
        "url": snap.url,
        "link": snap.kind,
        "profile": fleet.profile(printer).name,
        "dialect": cfg.dialect,
        # The settings in use, where each came from (config, default, the printer's
        # identity), what the identity suggests and where the config disagrees with it.
        "setup": fleet.setup_report(printer),
        "state": snap.state.value,
        "since": iso(snap.since),
        "cause": snap.cause,
        "flags": snap.flags,
        **describe(snap),
        "connected": snap.connected,
        "confirmation": snap.confirmation,
        "queue": {
            "depth": stats.depth,
            "oldest_queued_at": format_ts(oldest) if oldest else None,
            "in_doubt": stats.in_doubt,
            "held": stats.held,
        },
        "held": [_print_brief(p) for p in held],
        "failed": [_print_brief(p) for p in failed],
        "workers": {kind: {"errors": w.errors, "restarts": w.restarts, "last_error": w.error,
                           "last_error_at": iso(w.at) if w.errors else None}
                    for kind, w in workers.items()},
        "identity": snap.identity,
        "last_error": snap.last_error,
        "link_counters": snap.counters,
        "counters": counters,
        "address": snap.url,
        "present": present,
        "problems": problems(snap, history, paper, held, failed, workers),
        "queue_oldest_age_s": round(age, 3) if age is not None else None,
        "maintenance": {**snap.maintenance, "at": iso(snap.maintenance_at)},
        "paper": paper,
        "text": text_health(fleet.profile(printer)),
        "history": {
            **history.summary(),
            "printed": int(counters.get("printed_originals", 0)),
            "copies_printed": int(counters.get("copies_printed", 0)),
            "reprints_requested": int(counters.get("reprints_requested", 0)),
            "reprints_interrupted": int(counters.get("interrupted_retries", 0)),
            "held": int(counters.get("held", 0)),
            "failed": int(counters.get("failed", 0)),
        },
    }


def _print_brief(p: Print) -> dict[str, Any]:
    return {"receipt_id": p.receipt_id, "print_id": p.id, "kind": p.kind,
            "attempt": p.attempt, "reason": p.outcome if p.state == "failed" else p.reason,
            "at": format_ts(p.finished_at or p.created_at)}


def status_line(fleet: Fleet) -> str:
    """systemd's one-line STATUS=: each printer, its trouble since when, and what waits."""
    journal = fleet.journal()
    parts = []
    for name, session in fleet.sessions.items():
        snap = session.snapshot()
        stats = journal.search.queue_stats(name)
        paper_low = False
        roll = fleet.config.printers[name].roll_length_m
        if roll:
            history = fleet.health.history(journal, name)
            used = float(journal.search.counters(name).get("paper_mm", 0.0))
            paper_low = bool(history.roll(used, roll)["low_estimate"])
        parts.append(status_part(name, snap, stats.depth, stats.in_doubt, paper_low,
                                 stats.held))
    line = "; ".join(parts) or "no printers configured"
    if fleet.health.journal_check.damaged:
        line = "JOURNAL DAMAGED, not accepting: " + line
    return line

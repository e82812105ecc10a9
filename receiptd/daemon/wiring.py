"""Wiring: the journal, and per printer a status session, a state reporter and a spooler.

Start order matters for the guarantees: the journal opens (and recovers prints that were in
doubt when the last process died) before any worker runs. Stop order too: the spoolers finish
the prints in hand first, then the sessions stop, then each reporter journals and publishes the
last state changes its session queued, and only then do the journals close.

This module builds and connects parts; it holds no logic of its own beyond the order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from receiptd.config import Config
from receiptd.daemon import sdnotify
from receiptd.daemon.testhooks import TestHooks
from receiptd.daemon.testhooks import enabled as test_hooks_enabled
from receiptd.events import EventBus
from receiptd.journal import Journal, Print
from receiptd.journal.diskguard import check_writable
from receiptd.journal.retention import Retention
from receiptd.links import link_for_url
from receiptd.monitor import health
from receiptd.monitor.health import HealthState
from receiptd.monitor.metrics import Metrics
from receiptd.monitor.reporter import StateReporter
from receiptd.printer import PrinterSession, SessionSettings
from receiptd.printer.liveness import slowest_intake
from receiptd.render.profiles import Profile, resolve_profile
from receiptd.spool.spooler import Outcome, Spooler, SpoolSettings

log = structlog.get_logger("receiptd.daemon")


class Daemon:
    """The running parts, and what the API and the monitor read of them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.bus = EventBus()
        self._local = threading.local()
        self._journals: list[Journal] = []
        self._journals_lock = threading.Lock()
        self.profiles: dict[str, Profile] = {
            name: resolve_profile(p.profile, p.profile_overrides, config.profiles,
                                  where=f"printers.{name}")
            for name, p in config.printers.items()
        }
        self.sessions: dict[str, PrinterSession] = {}
        self.spoolers: dict[str, Spooler] = {}
        self.reporters: dict[str, StateReporter] = {}
        self._threads: list[threading.Thread] = []
        self.watchdog = sdnotify.Watchdog.from_env()
        # RECEIPTD_TEST_HOOKS=1 only (boot test, hwtests): see receiptd/daemon/testhooks.py.
        self.test_hooks = TestHooks(config) if test_hooks_enabled() else None
        self.metrics_registry = Metrics(self)
        self.health = HealthState()
        self.retention: Retention | None = None
        self.started_at = time.time()

    # ------------------------------------------------------------------ what the API reads

    def journal(self) -> Journal:
        """This thread's own journal connection (SQLite connections are never shared)."""
        journal: Journal | None = getattr(self._local, "journal", None)
        if journal is None:
            journal = Journal(self.config.daemon.journal,
                              reserve_bytes=self.config.daemon.journal_reserve_bytes)
            self._local.journal = journal
            with self._journals_lock:
                self._journals.append(journal)
        return journal

    def profile(self, printer: str) -> Profile:
        return self.profiles[printer]

    def wake(self, printer: str) -> None:
        spooler = self.spoolers.get(printer)
        if spooler:
            spooler.wake()

    def recover(self, printer: str) -> None:
        self.sessions[printer].recover()
        log.info("printer_recover_requested", printer=printer)

    def printer_health(self, printer: str) -> dict[str, object]:
        return health.printer_health(self, printer)

    def metrics(self) -> bytes:
        return self.metrics_registry.render()

    def status_line(self) -> str:
        return health.status_line(self)

    def notify_status(self) -> None:
        """Send STATUS= to systemd when the line changed (state changes, queue, each tick)."""
        try:
            line = self.status_line()
        except Exception:  # journal unavailable: the status line is not worth a crash
            log.exception("status_line_failed")
            return
        if line != self.health.last_status:
            self.health.last_status = line
            sdnotify.status(line)

    # ------------------------------------------------------------------ life cycle

    def open_journal(self) -> None:
        """Open (and migrate) the journal and requeue prints a dead process left in doubt."""
        Path(self.config.daemon.journal).parent.mkdir(parents=True, exist_ok=True)
        check_writable(Path(self.config.daemon.journal))
        for retry in self.journal().receipts.recover_in_doubt():
            log.warning("print_in_doubt_requeued", printer=retry.printer,
                        receipt=retry.receipt_id, print_id=retry.id)

    def start_workers(self) -> None:
        for name, cfg in self.config.printers.items():
            link = link_for_url(cfg.url)
            session = PrinterSession(
                name,
                link,
                settings=SessionSettings(
                    poll_interval_s=cfg.poll_interval_s,
                    offline_after_s=cfg.offline_after_s,
                    write_timeout_s=cfg.write_timeout_s,
                    slowest_bytes_per_s=slowest_intake(link),
                ),
                on_beat=self._beat(f"printer-{name}"),
                last_seq=self.journal().events.last_seq(name),
            )
            reporter = StateReporter(
                name, session.changes, self.journal,
                bus=self.bus, health=self.health, metrics=self.metrics_registry,
                notify_status=self.notify_status, on_beat=self._beat(f"state-{name}"),
            )
            spooler = Spooler(
                name, session, self.journal, self.profiles[name], self.bus,
                settings=SpoolSettings(
                    confirm_timeout_s=cfg.confirm_timeout_s,
                    window_prints=cfg.send_window_prints,
                    window_bytes=cfg.send_window_bytes,
                ),
                on_beat=self._beat(f"spool-{name}"),
                on_outcome=self._on_outcome,
            )
            session.is_idle = spooler.is_idle  # its own queries never land inside a print
            self.sessions[name] = session
            self.reporters[name] = reporter
            self.spoolers[name] = spooler
            self._spawn(f"state-{name}", reporter.run)
            self._spawn(f"printer-{name}", session.run)
            self._spawn(f"spool-{name}", spooler.run)
        self.retention = Retention(self.journal, self.config.retention)
        self._spawn("retention", self.retention.run)

    def _beat(self, worker: str) -> Callable[[], None]:
        """A worker's heartbeat: systemd's watchdog is fed only while every worker beats."""
        self.watchdog.register(worker)
        beat: Callable[[], None] = lambda: self.watchdog.beat(worker)  # noqa: E731
        return self.test_hooks.wrap_beat(worker, beat) if self.test_hooks else beat

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop_workers(self, drain_timeout: float = 10.0) -> None:
        deadline = time.monotonic() + drain_timeout
        for spooler in self.spoolers.values():
            spooler.stop()
        if self.retention:
            self.retention.stop()
        self._join(("spool-", "retention"), deadline)
        for session in self.sessions.values():
            session.stop()
        self._join(("printer-",), deadline)
        for reporter in self.reporters.values():
            reporter.stop()  # after the sessions: their last change ("stopping") is reported
        self._join(("state-",), deadline)
        with self._journals_lock:
            for journal in self._journals:
                try:
                    journal.close()
                except Exception:  # closing from another thread: SQLite may refuse; harmless
                    log.debug("journal_close_skipped")

    def _join(self, prefixes: tuple[str, ...], deadline: float) -> None:
        for thread in self._threads:
            if thread.name.startswith(prefixes):
                thread.join(max(0.1, deadline - time.monotonic()))

    def _on_outcome(self, job: Print, outcome: Outcome, seconds: float) -> None:
        self.metrics_registry.on_outcome(job, outcome, seconds)
        session = self.sessions.get(job.printer)
        if session is not None:
            session.request_maintenance()  # fresh GS g 2 counters once the printer is idle

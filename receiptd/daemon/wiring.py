"""Wiring: the journal, and per printer a status session, a state reporter and a spooler.

Start order matters for the guarantees: the journal opens (and recovers prints that were in
doubt when the last process died) before any worker runs. Stop order too: the spoolers finish
the prints in hand first, then the sessions stop, then each reporter journals and publishes the
last state changes its session queued, and only then do the journals close.

Every worker thread runs under a supervisor: a worker that dies of an unexpected error is
logged, shown in the printer's health and started again (with a growing pause), so one bad
moment never leaves a printer without its session, reporter or spooler.

This module builds and connects parts; it holds no logic of its own beyond the order.
"""

from __future__ import annotations

import functools
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
from receiptd.journal.check import quick_open
from receiptd.journal.checkpoint import Checkpointer
from receiptd.journal.diskguard import check_writable
from receiptd.journal.migrations import latest_version
from receiptd.journal.retention import Retention
from receiptd.links import link_for_url
from receiptd.monitor import health
from receiptd.monitor.health import HealthState
from receiptd.monitor.metrics import Metrics
from receiptd.monitor.reporter import IDLE_WAIT_S, StateReporter
from receiptd.printer import PrinterSession, SessionSettings
from receiptd.printer.dialect import session_dialect
from receiptd.printer.liveness import slowest_intake
from receiptd.printer.selfconfig import SelfConfig
from receiptd.printer.states import Snapshot
from receiptd.render import glyphs
from receiptd.render.profiles import Profile
from receiptd.spool.handoff import Offer
from receiptd.spool.spooler import Outcome, Spooler, SpoolSettings

log = structlog.get_logger("receiptd.daemon")

#: How long the start may take on top of systemd's start timeout while the journal upgrades.
JOURNAL_UPGRADE_S = 30 * 60.0
RESTART_PAUSE_MAX_S = 5.0  # a worker that keeps dying is started again at most this often


class Daemon:
    """The running parts, and what the API and the monitor read of them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        glyphs.use_system_fonts(config.daemon.system_fonts)
        self.bus = EventBus()
        self._local = threading.local()
        self._journals: list[Journal] = []
        self._journals_lock = threading.Lock()
        # Each printer's profile: its config's, filled in from its identity once known.
        self.setups: dict[str, SelfConfig] = {
            name: SelfConfig(name, p, config.profiles) for name, p in config.printers.items()
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
        # Copies the WAL into the journal file, so that no commit (the event loop's above
        # all) waits for it: every connection below is opened without autocheckpoint.
        self.checkpointer = Checkpointer(config.daemon.journal)
        self.started_at = time.time()
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ what the API reads

    def journal(self) -> Journal:
        """This thread's own journal connection (SQLite connections are never shared)."""
        journal: Journal | None = getattr(self._local, "journal", None)
        if journal is None or journal.closed:  # closed: a worker started again
            # check=False: open_journal() looked at the file before the first open
            # (journal.check.quick_open); the full check runs after READY (daemon.serve).
            journal = Journal(self.config.daemon.journal, check=False,
                              reserve_bytes=self.config.daemon.journal_reserve_bytes,
                              autocheckpoint=False)
            self._local.journal = journal
            with self._journals_lock:
                self._journals.append(journal)
        return journal

    def profile(self, printer: str) -> Profile:
        setup = self.setups[printer]
        session = self.sessions.get(printer)
        return setup.profile(session.board.identity if session else {})

    def journal_check(self) -> dict[str, object]:
        return self.health.journal_check.as_dict()

    def setup_report(self, printer: str) -> dict[str, object]:
        """The printer's settings, where each came from, and what its identity suggests."""
        self.profile(printer)  # follow an identity that arrived since
        return self.setups[printer].report()

    def wake(self, printer: str) -> None:
        spooler = self.spoolers.get(printer)
        if spooler:
            spooler.wake()

    def offer(self, printer: str) -> Offer | None:
        spooler = self.spoolers.get(printer)
        return spooler.open_offer() if spooler else None

    def recover(self, printer: str) -> None:
        """DLE ENQ recovery, and the admin's word for the prints held on this printer after
        too many interrupted attempts: they go back to the queue."""
        self.sessions[printer].recover()
        log.info("printer_recover_requested", printer=printer)
        released = self.journal().receipts.release_held(printer=printer, by="recover")
        for job in released:
            log.info("print_released", printer=printer, receipt=job.receipt_id, print_id=job.id)
            self.bus.publish("receipt", {
                "receipt_id": job.receipt_id, "printer": printer, "state": "queued",
                "print_id": job.id, "print_kind": job.kind, "print_state": job.state,
                "reason": job.reason,
                "order_ref": self.journal().receipts.get(job.receipt_id).order_ref,
            })
        if released:
            self.wake(printer)

    def snapshot(self, printer: str) -> Snapshot:
        return self.sessions[printer].snapshot()

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
        """Look at the journal read-only (header, schema version, every b-tree's root: a
        damaged file is refused untouched), open (and migrate) it and requeue prints a dead
        process left in doubt. The full integrity check is not here: it reads every page, so
        it runs after READY, in the background (``daemon.serve``)."""
        version = quick_open(Path(self.config.daemon.journal))
        if version is not None and version < latest_version():
            # The upgrade may read the journal whole once (the receipts counted by state):
            # seconds per million receipts, more on a journal larger than RAM. Ask systemd
            # for the time, or its start timeout kills it half-way, again at each restart.
            sdnotify.extend_timeout(JOURNAL_UPGRADE_S)
            sdnotify.status(f"upgrading the journal from schema version {version}")
            log.info("journal_upgrade", from_version=version, to_version=latest_version())
        Path(self.config.daemon.journal).parent.mkdir(parents=True, exist_ok=True)
        check_writable(Path(self.config.daemon.journal))
        limits = {name: p.max_print_attempts for name, p in self.config.printers.items()}
        for retry in self.journal().receipts.recover_in_doubt(max_attempts=limits):
            log.warning("print_in_doubt_requeued", printer=retry.printer,
                        receipt=retry.receipt_id, print_id=retry.id, state=retry.state)

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
                dialect=session_dialect(self.setups[name].configured),
            )
            reporter = StateReporter(
                name, session.changes, self.journal,
                bus=self.bus, health=self.health, metrics=self.metrics_registry,
                notify_status=self.notify_status, on_beat=self._beat(f"state-{name}"),
                on_error=self._worker_error(f"state-{name}"),
                idle_wait_s=self.watchdog.idle_wait(IDLE_WAIT_S),
            )
            spooler = Spooler(
                name, session, self.journal, functools.partial(self.profile, name), self.bus,
                settings=SpoolSettings(
                    confirm_timeout_s=cfg.confirm_timeout_s,
                    window_prints=cfg.send_window_prints,
                    window_bytes=cfg.send_window_bytes,
                    max_attempts=cfg.max_print_attempts,
                    hold_after_s=cfg.hold_after_s,
                    idle_wait_s=self.watchdog.idle_wait(IDLE_WAIT_S),
                ),
                on_beat=self._beat(f"spool-{name}"),
                on_outcome=self._on_outcome,
                on_error=self._worker_error(f"spool-{name}"),
            )
            session.is_idle = spooler.is_idle  # its own queries never land inside a print
            session.on_error = self._worker_error(f"printer-{name}")
            self.sessions[name] = session
            self.reporters[name] = reporter
            self.spoolers[name] = spooler
            self._spawn(f"state-{name}", reporter.run)
            self._spawn(f"printer-{name}", session.run)
            self._spawn(f"spool-{name}", spooler.run)
        self.retention = Retention(self.journal, self.config.retention,
                                   backlog=self.checkpointer.pending_frames)
        self._spawn("retention", self.retention.run)
        self.checkpointer.idle_wait_s = self.watchdog.idle_wait(IDLE_WAIT_S)
        self.checkpointer.on_beat = self._beat("checkpoint")
        self._spawn("checkpoint", self.checkpointer.run)

    def _beat(self, worker: str) -> Callable[[], None]:
        """A worker's heartbeat: systemd's watchdog is fed only while every worker beats."""
        self.watchdog.register(worker)
        beat: Callable[[], None] = lambda: self.watchdog.beat(worker)  # noqa: E731
        return self.test_hooks.wrap_beat(worker, beat) if self.test_hooks else beat

    def _worker_error(self, worker: str) -> Callable[[str], None]:
        return lambda error: self.health.worker_error(worker, error)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=self._supervised(name, target), name=name,
                                  daemon=True)
        thread.start()
        self._threads.append(thread)

    def _supervised(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        """Run ``target``; if it dies of an error, record it and start it again."""

        def run() -> None:
            deaths = 0
            while True:
                try:
                    target()
                    return
                except Exception as exc:
                    deaths += 1
                    self.health.worker_error(name, f"{type(exc).__name__}: {exc}",
                                             restarted=True)
                    log.exception("worker_died", worker=name, deaths=deaths)
                    if self._stopping.wait(min(RESTART_PAUSE_MAX_S, 0.25 * 2 ** deaths)):
                        return
                    log.warning("worker_restarted", worker=name, deaths=deaths)

        return run

    def stop_workers(self, drain_timeout: float = 10.0) -> None:
        self._stopping.set()
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
        self.checkpointer.stop()  # the last connection's close checkpoints what is left
        self._join(("checkpoint",), deadline)
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

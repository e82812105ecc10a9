"""Wiring: journal, one printer session and one spooler per printer, the API, systemd.

Start order matters for the guarantees: the journal opens (and recovers prints that were in
doubt when the last process died) before any worker runs; READY goes to systemd only after the
journal is open and the API listens. SIGTERM stops accepting, lets each spooler finish the print
in hand, then stops the printer sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from receiptd.api.app import create_app
from receiptd.config import Config, parse_listen
from receiptd.daemon import sdnotify
from receiptd.daemon.testhooks import TestHooks
from receiptd.daemon.testhooks import enabled as test_hooks_enabled
from receiptd.events import EventBus
from receiptd.journal import Journal, format_ts
from receiptd.journal.diskguard import check_writable
from receiptd.journal.retention import Retention
from receiptd.links import Link, link_for_url
from receiptd.monitor import health as health_mod
from receiptd.monitor import metrics as metrics_mod
from receiptd.printer import ADVICE, PrinterSession, SessionSettings, Transition, describe
from receiptd.render.profiles import Profile, resolve_profile
from receiptd.spool.spooler import Outcome, Spooler, SpoolSettings

log = structlog.get_logger("receiptd.daemon")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, which would kill us before the spoolers
    drain. Here the handlers only set the exit flag; ``Daemon.serve`` drains, then returns."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Daemon:
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
        self._threads: list[threading.Thread] = []
        self.watchdog = sdnotify.Watchdog.from_env()
        # RECEIPTD_TEST_HOOKS=1 only (boot test, hwtests): see receiptd/testhooks.py.
        self.test_hooks = TestHooks(config) if test_hooks_enabled() else None
        self.metrics_registry = metrics_mod.Metrics(self)
        self.health = health_mod.HealthState()
        self.retention: Retention | None = None
        self.started_at = time.time()

    # ------------------------------------------------------------------ Backend for the API

    def journal(self) -> Journal:
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

    def printer_health(self, printer: str) -> dict[str, Any]:
        snap = self.sessions[printer].snapshot()
        stats = self.journal().queue_stats(printer)
        cfg = self.config.printers[printer]
        return {
            "name": printer,
            "url": snap.url,
            "link": snap.kind,
            "profile": cfg.profile,
            "state": snap.state.value,
            "since": _iso(snap.since),
            "cause": snap.cause,
            "flags": snap.flags,
            **describe(snap),
            "connected": snap.connected,
            "confirmation": snap.confirmation,
            "queue": {
                "depth": stats.depth,
                "oldest_queued_at": format_ts(stats.oldest_queued_at)
                if stats.oldest_queued_at else None,
                "in_doubt": stats.in_doubt,
            },
            "identity": snap.identity,
            "last_error": snap.last_error,
            "link_counters": snap.counters,
            "counters": self.journal().counters(printer),
            **health_mod.detail(self, printer, snap, stats),
        }

    def metrics(self) -> bytes:
        return self.metrics_registry.render()

    # ------------------------------------------------------------------ life cycle

    def open_journal(self) -> None:
        """Open (and migrate) the journal and requeue prints a dead process left in doubt."""
        Path(self.config.daemon.journal).parent.mkdir(parents=True, exist_ok=True)
        check_writable(Path(self.config.daemon.journal))
        journal = self.journal()
        for retry in journal.recover_in_doubt():
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
                on_transition=self._on_transition,
                on_beat=self._beat(f"printer-{name}"),
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
            self.sessions[name] = session
            self.spoolers[name] = spooler
            session.is_idle = health_mod.idle_check(spooler)
            self._spawn(f"printer-{name}", session.run)
            self._spawn(f"spool-{name}", spooler.run)
        self.retention = Retention(self.journal, self.config.retention)
        self._spawn("retention", self.retention.run)

    def _beat(self, worker: str) -> Callable[[], None]:
        """A worker's heartbeat: systemd's watchdog is fed only while every worker beats."""
        self.watchdog.register(worker)
        beat: Callable[[], None] = lambda: self.watchdog.beat(worker)  # noqa: E731
        return self.test_hooks.wrap_beat(worker, beat) if self.test_hooks else beat

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop_workers(self, drain_timeout: float = 10.0) -> None:
        for spooler in self.spoolers.values():
            spooler.stop()
        if self.retention:
            self.retention.stop()
        deadline = time.monotonic() + drain_timeout
        for thread in self._threads:
            if thread.name.startswith(("spool-", "retention")):
                thread.join(max(0.0, deadline - time.monotonic()))
        for session in self.sessions.values():
            session.stop()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        with self._journals_lock:
            for journal in self._journals:
                try:
                    journal.close()
                except Exception:  # closing from another thread: SQLite may refuse; harmless
                    log.debug("journal_close_skipped")

    def _on_transition(self, t: Transition) -> None:
        advice = ADVICE[t.state]
        journal = self.journal()
        paper_mm = journal.counters(t.printer).get("paper_mm", 0.0)  # roll estimates
        event = journal.record_printer_event(
            printer=t.printer, state=t.state.value, previous=t.previous.value, cause=t.cause,
            detail={"flags": list(t.flags), "category": advice.category, "paper_mm": paper_mm},
        )
        self.health.on_event(journal, event)
        self.bus.publish("printer", {
            "printer": t.printer, "state": t.state.value, "previous": t.previous.value,
            "cause": t.cause, "category": advice.category,
            "hint": {"en": advice.en, "zh": advice.zh}, "at": _iso(t.at),
        })
        self.metrics_registry.on_transition(t)
        self.notify_status()

    def _on_outcome(self, job: Any, outcome: Outcome, seconds: float) -> None:
        self.metrics_registry.on_outcome(job, outcome, seconds)
        session = self.sessions.get(job.printer)
        if session is not None:
            session.request_maintenance()  # fresh GS g 2 counters once the printer is idle

    def status_line(self) -> str:
        return health_mod.status_line(self)

    def notify_status(self) -> None:
        """Send STATUS= to systemd when the line changed (transitions, queue, each tick)."""
        try:
            line = self.status_line()
        except Exception:  # journal unavailable: the status line is not worth a crash
            log.exception("status_line_failed")
            return
        if line != self.health.last_status:
            self.health.last_status = line
            sdnotify.status(line)

    # ------------------------------------------------------------------ serving

    def sockets(self) -> list[socket.socket]:
        out = []
        if self.config.daemon.listen:
            host, port = parse_listen(self.config.daemon.listen)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
            # TCP, and without it Nagle + delayed ACK add ~40 ms to every kept-alive request.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            out.append(sock)
        if self.config.daemon.unix_socket:
            path = Path(self.config.daemon.unix_socket)
            if not path.parent.exists():
                path.parent.mkdir(parents=True)
                path.parent.chmod(0o750)  # the group reaches the 0660 socket (umask is 077)
            path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o117)  # rw for owner and group only, from the first instant
            try:
                sock.bind(str(path))
            finally:
                os.umask(old)
            out.append(sock)
        return out

    def serve(self) -> None:
        self.open_journal()
        sockets = self.sockets()
        self.start_workers()
        app = create_app(self)
        if self.test_hooks:
            self.test_hooks.install(app)
        server = _Server(uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=5,
        ))

        async def main() -> None:
            ticker = asyncio.create_task(self._tick(server))
            try:
                await server.serve(sockets=sockets)
            finally:
                ticker.cancel()

        try:
            asyncio.run(main())
        finally:
            sdnotify.stopping()
            log.info("draining")
            self.stop_workers()
            log.info("stopped")

    async def _tick(self, server: uvicorn.Server) -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        addresses = [self.config.daemon.listen, str(self.config.daemon.unix_socket or "")]
        log.info("ready", listen=[a for a in addresses if a], printers=list(self.config.printers),
                 seconds=round(time.time() - self.started_at, 3))
        sdnotify.ready()
        self.notify_status()
        while True:
            self.watchdog.maybe_notify()
            self.notify_status()
            await asyncio.sleep(min(self.watchdog.period or 1.0, 1.0))


# A printer whose buffer is full takes data only as fast as it prints: raster at a slow
# 50 mm/s is ~22 KB/s. 8 KB/s stays below that and below any USB or LAN link.
PRINT_INTAKE_BYTES_PER_S = 8000.0


def slowest_intake(link: Link) -> float:
    """How slowly this printer may take data and still be alive (for silence allowances).

    A serial line cannot carry more than baud/10 bytes a second (8N1); elsewhere the printer's
    own printing is the bottleneck. Using the serial figure everywhere let a LAN printer that
    died under a large image stay "online" for minutes."""
    if link.kind == "serial":
        baud = float(getattr(link, "settings", {}).get("baudrate", 9600))
        return min(baud / 10.0, PRINT_INTAKE_BYTES_PER_S)
    return PRINT_INTAKE_BYTES_PER_S


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"

"""Serving: the listening sockets, uvicorn, and the READY / STATUS / WATCHDOG ticker.

READY goes to systemd only after the journal is open and the API listens. Before READY the
journal gets only its cheap look (``journal.check.quick_open``: header, schema version, the
root of every b-tree); the full integrity check reads every page, so it runs after READY in a
low-priority thread, one table at a time (``JournalChecker``), and reports to the health view,
``/healthz``, the ``journal_check`` log event and the ``receiptd_journal_check_*`` metrics. If it
finds damage, the daemon stops accepting (``JournalGate``: 503 ``journal_corrupt`` on every
write, ``/healthz`` too; the virtual printer ports close) and keeps printing what it accepted.
SIGTERM stops accepting, lets each spooler finish the print in hand, then stops the printer
sessions.

Connections are bounded (``receiptd.api.connections``) by what the process may open: the soft
file-descriptor limit is raised to the hard one where allowed (the unit sets both with
``LimitNOFILE``), and the connection limits leave room below it, so accepting a connection
never runs out of descriptors.

The API is served by uvicorn's httptools protocol on a uvloop event loop when they are
installed (a parser in C and a libuv loop: a bare route with a durable commit answers in about
three quarters of the time), else by its h11 protocol on asyncio's loop; the ready line names
both (``http``, ``loop``). The signal handlers, the ticker and the once-a-second main loop
below are plain asyncio and work the same on either loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import resource
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from receiptd.api.app import create_app
from receiptd.api.connections import (
    ConnectionGuard,
    Limits,
    guarded_protocol,
    http_implementation,
    limits_for,
)
from receiptd.config import Config, parse_listen
from receiptd.daemon import sdnotify
from receiptd.daemon.wiring import Daemon
from receiptd.journal.check import IntegrityCheck
from receiptd.monitor.health import JOURNAL_DAMAGED_CODE, JournalCheckReport

if TYPE_CHECKING:
    from receiptd.vport import VirtualPorts

log = structlog.get_logger("receiptd.daemon")

MAIN_LOOP_TICK_S = 1.0


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, which would kill us before the spoolers
    drain. Here the handlers only set the exit flag; ``serve`` drains, then returns."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)  # stop now, not at the next tick

    async def main_loop(self) -> None:
        """uvicorn's loop, waking once a second instead of ten times (the date header and
        the exit flag are all it looks at): an idle daemon's CPU is mostly wake-ups. A
        signal wakes it at once."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # uvicorn counts tenths of a second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), MAIN_LOOP_TICK_S)


def listening_sockets(config: Config) -> list[socket.socket]:
    out = []
    if config.daemon.listen:
        host, port = parse_listen(config.daemon.listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it Nagle + delayed ACK add ~40 ms to every kept-alive request.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        out.append(sock)
    if config.daemon.unix_socket:
        path = Path(config.daemon.unix_socket)
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


def serve(daemon: Daemon) -> None:
    """Run until SIGTERM/SIGINT, then drain and stop."""
    daemon.open_journal()
    sockets = listening_sockets(daemon.config)
    daemon.start_workers()
    app = create_app(daemon)
    if daemon.test_hooks:
        daemon.test_hooks.install(app)
    report = daemon.health.journal_check
    daemon.metrics_registry.registry.register(report)  # receiptd_journal_check_*
    gate = JournalGate(app, report, str(daemon.config.daemon.journal))
    proxies = forwarded_allow_ips(daemon.config)
    # A named proxy carries many clients: held to the total, not to one client's share.
    limits = dataclasses.replace(connection_limits(),
                                 proxies=tuple(ipaddress.ip_network(p) for p in proxies))
    protocol = guarded_protocol(ConnectionGuard(limits), http_implementation())
    loop_name, new_loop = event_loop()
    server = _Server(uvicorn.Config(
        gate, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=5,
        # X-Forwarded-For/-Proto only from the proxies the admin names; none by default.
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies,
        http=protocol, ws="none", loop=loop_name,
        # Also how many connections one accept round takes before the limits see them.
        backlog=BACKLOG,
    ))

    vports = virtual_ports(daemon)
    checker = JournalChecker(daemon)

    async def main() -> None:
        # Virtual printer ports listen before the ready line, which names their addresses.
        virtual = await vports.start() if vports is not None else {}
        ports_open = vports is not None
        loop = asyncio.get_running_loop()

        async def close_ports() -> None:
            nonlocal ports_open
            if ports_open and vports is not None:
                ports_open = False
                await vports.stop()
                log.warning("virtual_ports_closed", reason=JOURNAL_DAMAGED_CODE)

        checker.on_damage = lambda: asyncio.run_coroutine_threadsafe(close_ports(), loop)
        serving = {"http": protocol.implementation, "loop": running_loop_name()}
        ticker = asyncio.create_task(_tick(daemon, server, sockets, virtual, checker, serving))
        try:
            await server.serve(sockets=sockets)
        finally:
            ticker.cancel()
            checker.stop()
            await close_ports()

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(main())
    finally:
        sdnotify.stopping()
        log.info("draining")
        checker.stop()
        daemon.stop_workers()
        log.info("stopped")


def forwarded_allow_ips(config: Config) -> list[str]:
    """The addresses whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` uvicorn believes:
    ``[daemon] trusted_proxies`` (validated at load: addresses and networks only, never
    ``*``), each IPv4 one also as IPv6 maps it (``::ffff:127.0.0.1``: a proxy's connection
    to a dual-stack ``[::]`` listener arrives so). Empty: the headers are ignored from every
    connection, whatever uvicorn's default or ``FORWARDED_ALLOW_IPS`` would say.

    uvicorn takes the client from ``X-Forwarded-For`` right to left: the first address not
    listed here, so what a client writes into the header itself (on its left) is never
    believed over what the proxy appended."""
    out: list[str] = []
    for entry in config.daemon.trusted_proxies:
        network = ipaddress.ip_network(entry)
        out.append(entry)
        if isinstance(network, ipaddress.IPv4Network):
            mapped = ipaddress.IPv6Address(f"::ffff:{network.network_address}")
            prefix = 96 + network.prefixlen
            out.append(str(mapped) if prefix == 128 else f"{mapped}/{prefix}")
    return out


def event_loop() -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    """The event loop to serve on, by name, and how to make it: uvloop when it is installed
    (None: asyncio's own)."""
    try:
        import uvloop
    except ImportError:
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


def running_loop_name() -> str:
    """Which event loop this code runs on: "uvloop" or "asyncio"."""
    kind = type(asyncio.get_running_loop()).__module__
    return "uvloop" if kind.split(".")[0] == "uvloop" else "asyncio"


def virtual_ports(daemon: Daemon) -> VirtualPorts | None:
    """The virtual printer ports, or None when no printer has one (then their code, the
    raw ESC/POS sanitizer and its tables, is never imported)."""
    if not any(p.virtual_port for p in daemon.config.printers.values()):
        return None
    from receiptd.vport import VirtualPorts

    return VirtualPorts(daemon)


#: The background check's niceness (the most polite: the submits and the prints come first).
CHECK_NICENESS = 19


class JournalChecker:
    """The full journal integrity check, after READY, in a thread of its own at the lowest
    CPU priority, one table at a time (``journal.check.IntegrityCheck``). Its result goes to
    ``daemon.health.journal_check``, and to the log as one ``journal_check`` event
    (``result``: ok / damaged / failed). Damage calls ``on_damage`` (the virtual printer ports
    close); the ``JournalGate`` reads the report and refuses new work from then on."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.report: JournalCheckReport = daemon.health.journal_check
        self.on_damage: Callable[[], object] = lambda: None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="journal-check",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # nice is per thread on Linux
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)
        if self.daemon.test_hooks is not None:
            self.daemon.test_hooks.wait_check_release(self._stop)
        if self._stop.is_set():
            return
        path = Path(self.daemon.config.daemon.journal)
        self.report.begin()
        log.info("journal_check_started", path=str(path))
        try:
            problems = IntegrityCheck(path).run(on_chunk=self.report.progress, stop=self._stop)
        except (sqlite3.Error, OSError) as exc:
            self.report.fail(f"{type(exc).__name__}: {exc}")
            log.warning("journal_check", result="failed", error=str(exc),
                        seconds=self.report.seconds,
                        hint="the check could not read the journal; the daemon goes on")
            return
        except Exception as exc:  # a bug in the check must not take the daemon down
            self.report.fail(f"{type(exc).__name__}: {exc}")
            log.exception("journal_check", result="failed", seconds=self.report.seconds)
            return
        if self._stop.is_set() and not problems:
            return  # stopped half-way: no verdict
        self.report.finish(problems)
        if problems:
            log.error("journal_check", result="damaged", code=JOURNAL_DAMAGED_CODE,
                      problems=problems, seconds=self.report.seconds,
                      error=self.report.message(str(path)))
            self.on_damage()
        else:
            log.info("journal_check", result="ok", seconds=self.report.seconds,
                     tables=self.report.chunks_total)


_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Methods that only read: they still pass once the journal is found damaged.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Writes that only read the journal (the admin's own full check).
READ_ONLY_POSTS = frozenset({"/v1/journal/check"})


class JournalGate:
    """In front of the API. While the journal is healthy (or not yet checked) it passes every
    request through untouched. Once the background check found damage, nothing new is
    accepted: every write answers 503 with the stable code ``journal_corrupt`` and the
    operator's sentence, and ``/healthz`` answers 503 with the same code, so a load balancer,
    systemd's probes and ``receiptctl doctor`` see it. Reads still answer."""

    def __init__(self, app: Callable[[_Scope, _Receive, _Send], Awaitable[None]],
                 report: JournalCheckReport, path: str) -> None:
        self.app = app
        self.report = report
        self.path = path

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "http" and self.report.damaged:
            method, route = scope["method"], scope["path"]
            error = {"code": JOURNAL_DAMAGED_CODE, "message": self.report.message(self.path)}
            if route == "/healthz":
                from receiptd import __version__

                await _answer(send, 503, {"status": "error", "version": __version__,
                                          "error": error})
                return
            if method not in READ_METHODS and route not in READ_ONLY_POSTS:
                await _answer(send, 503, {"error": error})
                return
        await self.app(scope, receive, send)


async def _answer(send: _Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()),
                            (b"retry-after", b"3600")]})
    await send({"type": "http.response.body", "body": data})


#: The listen backlog: connections the kernel holds before we accept them.
BACKLOG = 128
#: The soft descriptor limit is raised at most to this (enough for every limit here).
NOFILE_WANTED = 8192


def connection_limits() -> Limits:
    """Raise the soft file-descriptor limit towards the hard one (the systemd default soft
    limit is 1024), then size the connection limits to fit under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(hard, NOFILE_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError):  # a sandbox may forbid it: live with what we have
            pass
    nofile = NOFILE_WANTED if soft == resource.RLIM_INFINITY else soft
    limits = limits_for(nofile)
    log.info("connection_limits", nofile=nofile, connections=limits.total,
             per_address=limits.per_client, head_timeout_s=limits.head_timeout_s,
             request_timeout_s=limits.request_timeout_s)
    return limits


def bound_address(sock: socket.socket) -> str:
    """What a socket listens on, as the config writes it: a port 0 in the config becomes the
    port the kernel chose, so whoever started the daemon can read it from the ready line."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return str(name)
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _tick(daemon: Daemon, server: uvicorn.Server, sockets: list[socket.socket],
                virtual_ports: dict[str, str], checker: JournalChecker,
                serving: dict[str, str]) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    log.info("ready", listen=[bound_address(s) for s in sockets],
             printers=list(daemon.config.printers), virtual_ports=virtual_ports,
             seconds=round(time.time() - daemon.started_at, 3), **serving)
    sdnotify.ready()
    checker.start()  # the full journal check: after READY, in the background
    daemon.notify_status()
    while True:
        daemon.watchdog.maybe_notify()
        daemon.notify_status()
        await asyncio.sleep(min(daemon.watchdog.period or 1.0, 1.0))

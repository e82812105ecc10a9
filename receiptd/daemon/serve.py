"""Serving: the listening sockets, uvicorn, and the READY / STATUS / WATCHDOG ticker.

READY goes to systemd only after the journal is open and the API listens. SIGTERM stops
accepting, lets each spooler finish the print in hand, then stops the printer sessions.

Connections are bounded (``receiptd.api.connections``) by what the process may open: the soft
file-descriptor limit is raised to the hard one where allowed (the unit sets both with
``LimitNOFILE``), and the connection limits leave room below it, so accepting a connection
never runs out of descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import structlog
import uvicorn

from receiptd.api.app import create_app
from receiptd.api.connections import ConnectionGuard, Limits, guarded_protocol, limits_for
from receiptd.config import Config, parse_listen
from receiptd.daemon import sdnotify
from receiptd.daemon.wiring import Daemon
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
    limits = connection_limits()
    server = _Server(uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=5,
        http=guarded_protocol(ConnectionGuard(limits)), ws="none",
        # Also how many connections one accept round takes before the limits see them.
        backlog=BACKLOG,
    ))

    vports = VirtualPorts(daemon)

    async def main() -> None:
        # Virtual printer ports listen before the ready line, which names their addresses.
        virtual = await vports.start()
        ticker = asyncio.create_task(_tick(daemon, server, sockets, virtual))
        try:
            await server.serve(sockets=sockets)
        finally:
            ticker.cancel()
            await vports.stop()

    try:
        asyncio.run(main())
    finally:
        sdnotify.stopping()
        log.info("draining")
        daemon.stop_workers()
        log.info("stopped")


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
                virtual_ports: dict[str, str]) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    log.info("ready", listen=[bound_address(s) for s in sockets],
             printers=list(daemon.config.printers), virtual_ports=virtual_ports,
             seconds=round(time.time() - daemon.started_at, 3))
    sdnotify.ready()
    daemon.notify_status()
    while True:
        daemon.watchdog.maybe_notify()
        daemon.notify_status()
        await asyncio.sleep(min(daemon.watchdog.period or 1.0, 1.0))

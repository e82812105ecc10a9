"""The systemd notification protocol (sd_notify(3)), and a watchdog that workers feed.

Everything here is a no-op returning ``False`` when the daemon does not run under systemd
(``NOTIFY_SOCKET`` unset), and nothing here ever raises for a failed send: a lost
notification must not take the daemon down. Failures are logged instead.

Order of use in the daemon:

* ``ready()`` only after the journal is open and the API listens — systemd then starts the
  units ordered after us, and ``systemctl start`` returns.
* ``Watchdog.beat(name)`` from each worker's own loop (printer session, spooler, retention),
  ``Watchdog.maybe_notify()`` every ``Watchdog.period`` seconds from the main loop. The
  ``WATCHDOG=1`` ping is withheld as soon as one worker stops beating, so a single hung
  worker gets the whole service restarted (``WatchdogSec=`` + ``Restart=on-failure``).
* ``stopping()`` when SIGTERM starts the drain, ``extend_timeout()`` if the drain may
  outlast ``TimeoutStopSec=``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import structlog

__all__ = [
    "Watchdog",
    "extend_timeout",
    "notify",
    "ready",
    "status",
    "stopping",
    "watchdog",
    "watchdog_interval",
]

log = structlog.get_logger("receiptd.sdnotify")


def _socket_address(raw: str) -> str | bytes | None:
    # "@name" is a Linux abstract socket: the leading "@" stands for a NUL byte.
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    # systemd >= 254 may also hand out "vsock:CID:PORT"; services on this host never get one.
    return None


def notify(message: str) -> bool:
    """Send ``message`` (newline-separated ``KEY=VALUE`` lines) to the service manager.

    Returns True when the datagram was sent, False when not under systemd or on failure.
    """
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw:
        return False
    address = _socket_address(raw)
    if address is None:
        log.warning("sd_notify_unsupported_socket", socket=raw)
        return False
    if not message:
        log.warning("sd_notify_empty_message")
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        log.warning("sd_notify_failed", socket=raw, message=message, error=str(exc))
        return False
    return True


def ready() -> bool:
    """The daemon is up: the journal is open and the API accepts connections."""
    return notify("READY=1")


def stopping() -> bool:
    """Shutdown has begun (SIGTERM received, draining)."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """A one-line human-readable status shown by ``systemctl status``."""
    # A newline would start a new KEY=VALUE assignment.
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog() -> bool:
    """Ping the watchdog unconditionally. Prefer ``Watchdog.maybe_notify()``."""
    return notify("WATCHDOG=1")


def extend_timeout(seconds: float) -> bool:
    """Ask for ``seconds`` more before the current start/stop timeout fires."""
    return notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds (``WATCHDOG_USEC``), or None when not enabled for us.

    ``WATCHDOG_PID``, when set, names the process the watchdog is meant for; a child that
    inherited the environment gets None (sd_watchdog_enabled(3)).
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            log.warning("sd_watchdog_bad_pid", watchdog_pid=pid)
            return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("sd_watchdog_bad_usec", watchdog_usec=usec)
        return None
    if value <= 0:
        return None
    return value / 1_000_000


class Watchdog:
    """``WATCHDOG=1`` only while every registered worker keeps beating.

    A worker is registered by its first ``beat()`` (or ``register()``, which counts as a
    beat, giving it a full interval to reach its loop) and is stale once it has not beaten
    for ``stale_after`` seconds (default: the watchdog interval). Workers must therefore
    beat at least that often, also while idle: their loops block with timeouts, never
    indefinitely. A worker that ends on purpose calls ``unregister()``.

    Thread-safe: workers beat from their own threads; ``maybe_notify()`` runs anywhere.
    """

    def __init__(
        self,
        interval: float | None = None,
        *,
        stale_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        send: Callable[[], bool] = watchdog,
    ) -> None:
        self.interval = interval
        self.stale_after = stale_after if stale_after is not None else interval
        self._clock = clock
        self._send = send
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}
        self._notify_lock = threading.Lock()
        self._reported_stale: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls) -> Watchdog:
        """A watchdog for the interval systemd set (disabled when it set none)."""
        return cls(watchdog_interval())

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    @property
    def period(self) -> float | None:
        """How often to call ``maybe_notify()``: half the interval, as sd_watchdog_enabled(3)
        recommends, so one late timer tick does not cost a restart."""
        return None if self.interval is None else self.interval / 2

    def idle_wait(self, longest: float) -> float:
        """How long a worker may sleep with nothing to do: ``longest``, or a quarter of
        ``stale_after`` when that is shorter, so an idle worker never looks hung."""
        return longest if self.stale_after is None else min(longest, self.stale_after / 4)

    def register(self, name: str) -> None:
        self.beat(name)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def beat(self, name: str) -> None:
        """Called by worker ``name`` from its own loop: it is alive and making progress."""
        now = self._clock()
        with self._lock:
            self._beats[name] = now

    def stale(self) -> list[str]:
        """Registered workers that have not beaten within ``stale_after``, sorted."""
        if self.stale_after is None:
            return []
        now = self._clock()
        with self._lock:
            return sorted(n for n, t in self._beats.items() if now - t > self.stale_after)

    def maybe_notify(self) -> bool:
        """Send ``WATCHDOG=1`` if the watchdog is enabled and no worker is stale.

        Returns True when the ping was sent.
        """
        if self.interval is None:
            return False
        with self._notify_lock:
            return self._maybe_notify_locked()

    def _maybe_notify_locked(self) -> bool:
        stale = frozenset(self.stale())
        if stale != self._reported_stale:
            # Log transitions only: once when a worker hangs, once when it recovers.
            if stale:
                log.error(
                    "sd_watchdog_withheld",
                    stale_workers=sorted(stale),
                    stale_after=self.stale_after,
                )
            else:
                log.info("sd_watchdog_resumed")
            self._reported_stale = stale
        if stale:
            return False
        return self._send()

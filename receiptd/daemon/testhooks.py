"""The watchdog test's hook: on SIGUSR2, one named worker hangs for good.

A worker thread that stops in its loop is the fault systemd's watchdog is there for, and it is
the one thing a test cannot cause from outside: SIGSTOP stops every thread at once, and a hung
process is not a hung worker. So the daemon keeps exactly this, and nothing else, for tests.

It exists only when the daemon's own environment has ``RECEIPTD_TEST_HOOKS=1``; no
configuration key turns it on, so a production ``receiptd.toml`` cannot. ``RECEIPTD_TEST_HANG``
names the worker (``spool-front``, ``printer-front``, ``state-front``, ...); a name that is no
worker of this configuration stops the start (exit 78). SIGUSR2 then makes that worker block at
its next heartbeat, in its own thread: its beats stop, the daemon withholds ``WATCHDOG=1`` and
systemd restarts the service (``WatchdogSec=``). Sending SIGUSR2 takes the right to signal the
daemon's process (root or the ``receiptd`` user), not an API token.

There is no route, and nothing here touches a file or the network: the checks of the sandbox
that the boot test makes run in its own probe, under the unit's sandbox
(``ci/boot-test.sh``), not in the daemon. Without the variable no handler is installed (SIGUSR2
keeps its default action) and heartbeats are not wrapped.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType

import structlog

from receiptd.config import Config
from receiptd.errors import ConfigError

ENV = "RECEIPTD_TEST_HOOKS"
HANG_ENV = "RECEIPTD_TEST_HANG"
HANG_SIGNAL = signal.SIGUSR2
WORKER_KINDS = ("printer", "state", "spool")

log = structlog.get_logger("receiptd.testhooks")


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get(ENV) == "1"


def workers(config: Config) -> list[str]:
    """Every worker that beats for the watchdog: one per kind and printer."""
    return [f"{kind}-{name}" for name in config.printers for kind in WORKER_KINDS]


class TestHooks:
    """Created by the daemon only when ``enabled()``."""

    __test__ = False  # a product class, not a test case, whatever its name says

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        known = workers(config)
        self.worker = env.get(HANG_ENV, "")
        if self.worker not in known:
            raise ConfigError(f"{ENV}=1: {HANG_ENV}={self.worker!r} names no worker; "
                              f"one of {known}")
        # Set from the signal handler, read by the worker: a plain flag, never a lock (the
        # handler runs on the main thread between two bytecodes, perhaps inside a lock).
        self._hang = False
        log.warning("test_hooks_enabled", worker=self.worker, signal=HANG_SIGNAL.name,
                    hint=f"{ENV}=1: never set this in production")

    def wrap_beat(self, worker: str, beat: Callable[[], None]) -> Callable[[], None]:
        """The worker's heartbeat; the named worker's blocks its thread once SIGUSR2 came."""
        if worker != self.worker:
            return beat

        def wrapped() -> None:
            if self._hang:
                log.error("test_hook_worker_hanging", worker=worker)
                while True:  # the worker's own thread never returns to its loop
                    time.sleep(3600)
            beat()

        return wrapped

    def install(self, app: object = None) -> None:
        """Install the SIGUSR2 handler. Called from the main thread (Python runs signal
        handlers there and refuses to install them elsewhere). ``app`` is not used: the hooks
        add no route to the API."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("test hooks must be installed from the main thread")
        signal.signal(HANG_SIGNAL, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._hang = True
        log.warning("test_hook_hang_requested", worker=self.worker)

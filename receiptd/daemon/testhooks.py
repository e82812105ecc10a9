"""The tests' hooks: on SIGUSR2, one named worker hangs for good; the background journal
check waits at its start until SIGUSR1.

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

``RECEIPTD_TEST_HOLD_CHECK=1`` (with ``RECEIPTD_TEST_HOOKS=1``; ``RECEIPTD_TEST_HANG`` may then
be left out) holds the journal integrity check that runs after READY at its start, until the
daemon gets SIGUSR1: a test sees the daemon serve while the check has not read a page yet, and
can damage the file before the check reads it, with no timing involved.
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
HOLD_CHECK_ENV = "RECEIPTD_TEST_HOLD_CHECK"
RELEASE_CHECK_SIGNAL = signal.SIGUSR1
HOLD_POLL_S = 0.02
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
        self.hold_check = env.get(HOLD_CHECK_ENV) == "1"
        if self.worker not in known and not (self.hold_check and HANG_ENV not in env):
            raise ConfigError(f"{ENV}=1: {HANG_ENV}={self.worker!r} names no worker; "
                              f"one of {known}")
        # Set from the signal handler, read by the worker: a plain flag, never a lock (the
        # handler runs on the main thread between two bytecodes, perhaps inside a lock).
        self._hang = False
        self._check_released = not self.hold_check
        log.warning("test_hooks_enabled", worker=self.worker or None, signal=HANG_SIGNAL.name,
                    hold_check=self.hold_check, hint=f"{ENV}=1: never set this in production")

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
        if self.worker:
            signal.signal(HANG_SIGNAL, self._on_signal)
        if self.hold_check:
            signal.signal(RELEASE_CHECK_SIGNAL, self._on_release_check)

    def wait_check_release(self, stop: threading.Event) -> None:
        """The journal check's thread: wait here until SIGUSR1 (or the daemon stops)."""
        if self._check_released:
            return
        log.warning("test_hook_check_held", signal=RELEASE_CHECK_SIGNAL.name)
        while not self._check_released and not stop.wait(HOLD_POLL_S):
            pass
        log.warning("test_hook_check_released")

    def _on_release_check(self, signum: int, frame: FrameType | None) -> None:
        self._check_released = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._hang = True
        log.warning("test_hook_hang_requested", worker=self.worker)

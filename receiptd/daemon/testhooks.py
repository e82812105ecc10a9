"""Test hooks for the boot test and the hardware suite: hang a worker, probe the sandbox.

Off unless the daemon's own environment has ``RECEIPTD_TEST_HOOKS=1``. No configuration key
turns them on, so a production ``receiptd.toml`` cannot; the unit file would need an
``Environment=RECEIPTD_TEST_HOOKS=1`` drop-in (``ci/boot-test.sh`` writes one). Even then they
are refused unless API tokens are configured, and they are admin-only:

* ``POST /v1/test-hooks/hang {"worker": "spool-front"}``: the named worker thread blocks for
  good at its next heartbeat, in its own loop. Its beats stop, so the daemon withholds
  ``WATCHDOG=1`` and systemd restarts the service (``WatchdogSec=``).
* ``POST /v1/test-hooks/probe {"write": [paths], "open": [paths], "connect": ["HOST:PORT"]}``:
  tries each operation from inside the daemon's process — with the unit's real sandbox, user,
  seccomp filter, device policy and IP allow list — and reports ``"ok"`` or the errno name.
  ``write`` creates a new file (removed again), ``open`` opens an existing file or device node
  read-write without side effects (``O_NONBLOCK | O_NOCTTY``, closed at once).

With hooks off neither route exists (404) and heartbeats are not wrapped.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI
from pydantic import BaseModel, Field

from receiptd.api.deps import Admin
from receiptd.config import Config
from receiptd.errors import ConfigError, NotFound

ENV = "RECEIPTD_TEST_HOOKS"

log = structlog.get_logger("receiptd.testhooks")


def enabled(environ: dict[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get(ENV) == "1"


class HangRequest(BaseModel):
    worker: str = Field(description="a worker name, e.g. spool-front or printer-front")


class ProbeRequest(BaseModel):
    write: list[str] = Field(default_factory=list, max_length=32)
    open: list[str] = Field(default_factory=list, max_length=32)
    connect: list[str] = Field(default_factory=list, max_length=8)


class TestHooks:
    """Created by the daemon only when ``enabled()``."""

    def __init__(self, config: Config) -> None:
        if not config.tokens:
            raise ConfigError(f"{ENV}=1 needs API tokens configured (the hooks are admin-only)")
        self._lock = threading.Lock()
        self._workers: set[str] = set()
        self._hang: set[str] = set()
        log.warning("test_hooks_enabled", hint=f"{ENV}=1: never set this in production")

    def wrap_beat(self, worker: str, beat: Callable[[], None]) -> Callable[[], None]:
        """The worker's heartbeat, which blocks the calling (worker) thread once told to."""
        with self._lock:
            self._workers.add(worker)

        def wrapped() -> None:
            if worker in self._hang:
                log.error("test_hook_worker_hanging", worker=worker)
                while True:  # the worker's own thread never returns to its loop
                    time.sleep(3600)
            beat()

        return wrapped

    def hang(self, worker: str) -> None:
        with self._lock:
            if worker not in self._workers:
                raise NotFound(f"no worker named {worker!r}; known: {sorted(self._workers)}")
            self._hang.add(worker)
        log.warning("test_hook_hang_requested", worker=worker)

    def install(self, app: FastAPI) -> None:
        @app.post("/v1/test-hooks/hang", tags=["test hooks"])
        def hang(body: HangRequest, caller: Admin) -> dict[str, str]:
            self.hang(body.worker)
            return {"hanging": body.worker}

        @app.post("/v1/test-hooks/probe", tags=["test hooks"])
        def probe(body: ProbeRequest, caller: Admin) -> dict[str, dict[str, str]]:
            return {
                "write": {path: probe_write(path) for path in body.write},
                "open": {path: probe_open(path) for path in body.open},
                "connect": {addr: probe_connect(addr) for addr in body.connect},
            }


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def probe_write(path: str) -> str:
    """Create ``path`` (new file only), write a byte, remove it: "ok" or the errno name."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return _errno_name(exc)
    try:
        os.write(fd, b"x")
    except OSError as exc:
        return _errno_name(exc)
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError as exc:
            log.warning("test_hook_probe_cleanup_failed", path=path, error=str(exc))
    return "ok"


def probe_open(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        return _errno_name(exc)
    os.close(fd)
    return "ok"


def probe_connect(address: str, timeout: float = 3.0) -> str:
    host, _, port = address.rpartition(":")
    result: Any
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            result = "ok"
    except OSError as exc:
        result = _errno_name(exc) if exc.errno else type(exc).__name__
    except ValueError:
        result = "bad address"
    return str(result)

"""sd_notify against a real AF_UNIX datagram socket, and the hung-worker watchdog rule."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from receiptd.daemon import sdnotify
from receiptd.daemon.sdnotify import Watchdog


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


@pytest.fixture
def path_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        yield sock


@pytest.fixture
def abstract_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    name = f"receiptd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        yield sock


# -- notify ----------------------------------------------------------------------------------


def test_no_notify_socket_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with capture_logs() as logs:
        assert sdnotify.notify("READY=1") is False
        assert sdnotify.ready() is False
        assert sdnotify.watchdog() is False
        assert Watchdog(10.0).maybe_notify() is False
    assert logs == []


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (sdnotify.ready, "READY=1"),
        (sdnotify.stopping, "STOPPING=1"),
        (sdnotify.watchdog, "WATCHDOG=1"),
        (lambda: sdnotify.status("2 printers, 0 queued"), "STATUS=2 printers, 0 queued"),
        (lambda: sdnotify.status("line one\nline two"), "STATUS=line one line two"),
        (lambda: sdnotify.extend_timeout(2.5), "EXTEND_TIMEOUT_USEC=2500000"),
        (lambda: sdnotify.notify("READY=1\nSTATUS=ünïcode"), "READY=1\nSTATUS=ünïcode"),
    ],
)
def test_messages_over_path_socket(path_socket: socket.socket, call: object, expected: str) -> None:
    assert callable(call)
    assert call() is True
    assert _recv(path_socket) == expected


def test_abstract_socket(abstract_socket: socket.socket) -> None:
    assert sdnotify.ready() is True
    assert _recv(abstract_socket) == "READY=1"


def test_send_failure_is_logged_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    with capture_logs() as logs:
        assert sdnotify.ready() is False
    assert [e["event"] for e in logs] == ["sd_notify_failed"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["message"] == "READY=1"


def test_unsupported_socket_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    with capture_logs() as logs:
        assert sdnotify.ready() is False
    assert [e["event"] for e in logs] == ["sd_notify_unsupported_socket"]


# -- watchdog_interval ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        (None, None, None),
        ("10000000", None, 10.0),
        ("10000000", "self", 10.0),
        ("10000000", "other", None),
        ("0", None, None),
        ("soon", None, None),
        ("10000000", "not-a-pid", None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    for key, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            value = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(value, value)
            monkeypatch.setenv(key, value)
    assert sdnotify.watchdog_interval() == expected


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    wd = Watchdog.from_env()
    assert wd.enabled and wd.interval == 4.0 and wd.period == 2.0
    monkeypatch.delenv("WATCHDOG_USEC")
    assert not Watchdog.from_env().enabled


# -- the hung-worker rule ---------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sent = 0

    def __call__(self) -> bool:
        self.sent += 1
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_hung_worker_withholds_the_ping(path_socket: socket.socket) -> None:
    clock = FakeClock()
    wd = Watchdog(10.0, clock=clock)
    wd.register("printer-front")
    wd.register("spool-front")

    clock.now += 6
    wd.beat("printer-front")
    wd.beat("spool-front")
    assert wd.maybe_notify() is True
    assert _recv(path_socket) == "WATCHDOG=1"

    # spool-front hangs: printer-front keeps beating, but the ping stops once spool-front
    # has been silent for longer than the interval.
    clock.now += 9
    wd.beat("printer-front")
    assert wd.maybe_notify() is True
    assert _recv(path_socket) == "WATCHDOG=1"
    clock.now += 2
    wd.beat("printer-front")
    with capture_logs() as logs:
        assert wd.maybe_notify() is False
        assert wd.maybe_notify() is False
    assert wd.stale() == ["spool-front"]
    assert [(e["event"], e["log_level"]) for e in logs] == [("sd_watchdog_withheld", "error")]
    assert logs[0]["stale_workers"] == ["spool-front"]

    path_socket.settimeout(0.05)
    with pytest.raises(TimeoutError):
        path_socket.recv(4096)

    # It recovers (or is replaced): the ping resumes.
    wd.beat("spool-front")
    with capture_logs() as logs:
        assert wd.maybe_notify() is True
    assert [e["event"] for e in logs] == ["sd_watchdog_resumed"]
    assert _recv(path_socket) == "WATCHDOG=1"


def test_unregistered_worker_no_longer_counts() -> None:
    clock = FakeClock()
    send = Recorder()
    wd = Watchdog(10.0, clock=clock, send=send)
    wd.beat("printer-old")
    wd.beat("printer-new")
    clock.now += 11
    wd.beat("printer-new")
    with capture_logs():
        assert wd.maybe_notify() is False
    wd.unregister("printer-old")
    with capture_logs():
        assert wd.maybe_notify() is True
    assert send.sent == 1


def test_no_workers_pings_and_disabled_never_pings() -> None:
    send = Recorder()
    assert Watchdog(10.0, send=send).maybe_notify() is True
    disabled = Watchdog(None, send=send)
    disabled.beat("x")
    assert disabled.maybe_notify() is False
    assert disabled.stale() == []
    assert send.sent == 1


def test_stale_after_overrides_interval() -> None:
    clock = FakeClock()
    wd = Watchdog(10.0, stale_after=3.0, clock=clock, send=lambda: True)
    wd.beat("retention")
    clock.now += 3.5
    assert wd.stale() == ["retention"]

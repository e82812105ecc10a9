"""Test hooks (receiptd/testhooks.py): off by default, admin-only, and a hung worker really
stops the systemd watchdog pings of the real daemon process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from receiptd.emulator import Emulator

from ..support import DaemonProcess, sample_document, wait_until

HOOKS = {"RECEIPTD_TEST_HOOKS": "1"}


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        yield sock, address


def _messages(sock: socket.socket, seconds: float) -> list[str]:
    """Everything the daemon sends within ``seconds`` (a window, not a deadline to meet)."""
    deadline = time.monotonic() + seconds
    out = []
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return out


def test_hooks_absent_by_default(emulator: Emulator,
                                 daemon_factory: Callable[..., DaemonProcess]) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"})
    r = d.clients["admin"].post("/v1/test-hooks/hang", json={"worker": "spool-front"})
    assert r.status_code == 404
    assert d.clients["admin"].post("/v1/test-hooks/probe", json={}).status_code == 404


def test_hooks_refused_without_tokens(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
         str(tmp_path / "j.db"), "--listen", "127.0.0.1:0", "--log-format", "json"],
        env={**HOOKS, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 78, proc.stderr
    assert "RECEIPTD_TEST_HOOKS=1 needs API tokens" in proc.stderr


def test_hooks_are_admin_only(emulator: Emulator,
                              daemon_factory: Callable[..., DaemonProcess]) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"}, extra_env=HOOKS)
    r = d.clients["cashier"].post("/v1/test-hooks/hang", json={"worker": "spool-front"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    r = httpx.post(f"{d.url}/v1/test-hooks/probe", json={})
    assert r.status_code == 401
    r = d.clients["admin"].post("/v1/test-hooks/hang", json={"worker": "nobody"})
    assert r.status_code == 404
    assert "spool-front" in r.json()["error"]["message"]


def test_probe_reports_errno(tmp_path: Path, emulator: Emulator,
                             daemon_factory: Callable[..., DaemonProcess]) -> None:
    port = emulator.start_tcp()
    d = daemon_factory({"front": f"tcp://127.0.0.1:{port}"}, extra_env=HOOKS)
    ok, missing = tmp_path / "probe-ok", tmp_path / "no-such-dir" / "x"
    r = d.clients["admin"].post("/v1/test-hooks/probe", json={
        "write": [str(ok), str(missing)],
        "open": ["/dev/null", str(missing)],
        "connect": [f"127.0.0.1:{port}"],
    })
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["write"] == {str(ok): "ok", str(missing): "ENOENT"}
    assert not ok.exists()  # the probe cleans up after itself
    assert body["open"] == {"/dev/null": "ok", str(missing): "ENOENT"}
    assert list(body["connect"].values()) == ["ok"]


def test_hung_worker_stops_watchdog_pings(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, address = notify_socket
    # A 2 s watchdog: pings every second while healthy; a worker is stale after 2 s.
    env = {**HOOKS, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"}, extra_env=env)
    wait_until(lambda: "WATCHDOG=1" in _messages(sock, 1.5), timeout=20, what="a watchdog ping")
    first = d.submit({"document": sample_document("before-hang")})
    d.wait_printed(first["id"])

    r = d.clients["admin"].post("/v1/test-hooks/hang", json={"worker": "spool-front"})
    assert r.status_code == 200, r.text
    # The API still answers and journals; the hung spooler never takes the receipt.
    queued = d.submit({"document": sample_document("while-hung")})
    assert queued["state"] == "queued"

    def pings_stopped() -> bool:
        return "WATCHDOG=1" not in _messages(sock, 3.0)  # 3 s > 2 s stale + 1 s period

    wait_until(pings_stopped, timeout=30, interval=0, what="the watchdog pings to stop")
    assert d.receipt(queued["id"])["state"] == "queued"
    assert "test_hook_worker_hanging" in d.log()
    assert "sd_watchdog_withheld" in d.log()

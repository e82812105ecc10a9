"""Test hooks (receiptd/daemon/testhooks.py): the daemon keeps only the hang-a-worker hook, off
by default, reached by a signal and not over HTTP; a hung worker really stops the systemd
watchdog pings of the real daemon process. No route of the product probes files or the
network, with or without the hooks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from receiptd.emulator import Emulator

from ..support import DaemonProcess, sample_document, wait_until

HOOKS = {"RECEIPTD_TEST_HOOKS": "1", "RECEIPTD_TEST_HANG": "spool-front"}
Factory = Callable[..., DaemonProcess]


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


def _catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for ``signum`` (SigCgt in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)


# What the removed probe route was sent in the boot test: a file to create, one to open, an
# address to connect to. With the hooks on, an admin must reach none of them.
def _probe_everything(d: DaemonProcess, target: Path, listener: socket.socket) -> None:
    host, port = listener.getsockname()
    body = {"write": [str(target)], "open": ["/dev/null"], "connect": [f"{host}:{port}"]}
    for path in ("/v1/test-hooks/probe", "/v1/test-hooks/hang"):
        r = d.clients["admin"].post(path, json=body)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert not target.exists()
    listener.settimeout(0.5)
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody was made to connect here


@pytest.mark.parametrize("env", [{}, HOOKS], ids=["hooks off", "hooks on"])
def test_no_route_probes_files_or_the_network(emulator: Emulator, daemon_factory: Factory,
                                              tmp_path: Path, env: dict[str, str]) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"}, extra_env=env)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        _probe_everything(d, tmp_path / "created-by-the-daemon", listener)
    spec = d.clients["admin"].get("/v1/openapi.json").json()
    assert not [p for p in spec["paths"] if "test-hooks" in p]


def test_hooks_absent_by_default(emulator: Emulator, daemon_factory: Factory) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"})
    assert d.proc is not None
    assert not _catches(d.proc.pid, signal.SIGUSR2)  # the default action: no hook to reach
    assert "test_hooks_enabled" not in d.log()


def test_hooks_on_catch_sigusr2_and_say_so(emulator: Emulator, daemon_factory: Factory) -> None:
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"}, extra_env=HOOKS)
    assert d.proc is not None
    assert _catches(d.proc.pid, signal.SIGUSR2)
    assert "test_hooks_enabled" in d.log() and "spool-front" in d.log()


def test_hang_must_name_a_worker(tmp_path: Path) -> None:
    for worker in ("", "spool-back", "retention"):
        proc = subprocess.run(
            [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
             str(tmp_path / "j.db"), "--listen", "127.0.0.1:0", "--log-format", "json",
             "--printer", "front=tcp://127.0.0.1:9"],
            env={**HOOKS, "RECEIPTD_TEST_HANG": worker, "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 78, proc.stderr
        assert "RECEIPTD_TEST_HANG" in proc.stderr and "spool-front" in proc.stderr


def test_hung_worker_stops_watchdog_pings(
    emulator: Emulator, daemon_factory: Factory, notify_socket: tuple[socket.socket, str],
) -> None:
    sock, address = notify_socket
    # A 2 s watchdog: pings every second while healthy; a worker is stale after 2 s.
    env = {**HOOKS, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}
    d = daemon_factory({"front": f"tcp://127.0.0.1:{emulator.start_tcp()}"}, extra_env=env)
    assert d.proc is not None
    wait_until(lambda: "WATCHDOG=1" in _messages(sock, 1.5), timeout=20, what="a watchdog ping")
    first = d.submit({"document": sample_document("before-hang")})
    d.wait_printed(first["id"])

    d.proc.send_signal(signal.SIGUSR2)
    wait_until(lambda: "test_hook_worker_hanging" in d.log(), what="spool-front hanging")
    # The API still answers and journals; the hung spooler never takes the receipt.
    queued = d.submit({"document": sample_document("while-hung")})
    assert queued["state"] == "queued"

    def pings_stopped() -> bool:
        return "WATCHDOG=1" not in _messages(sock, 3.0)  # 3 s > 2 s stale + 1 s period

    wait_until(pings_stopped, timeout=30, interval=0, what="the watchdog pings to stop")
    assert d.receipt(queued["id"])["state"] == "queued"
    assert "sd_watchdog_withheld" in d.log()
    assert d.proc.poll() is None  # SIGUSR2 was caught: the process is alive, one worker is not

"""Helpers the tests share: the real daemon as a subprocess, waiting, sample receipts, and
reading the emulator's transcript. Test modules import from here, never from each other."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from receiptd.emulator import Emulator

TOKENS = {"pos": "pos-secret-1", "cashier": "cashier-secret-1", "admin": "admin-secret-1"}



def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class DaemonProcess:
    """``receiptd run`` in a subprocess, driven over HTTP like a POS app would."""

    def __init__(self, tmp: Path, printers: dict[str, str], extra_env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None) -> None:
        self.tmp = tmp
        self.journal = tmp / "journal.db"
        self.printers = printers
        self.port = 0  # the first start binds port 0; the daemon's ready line names the port
        self.url = ""
        self.clients: dict[str, httpx.Client] = {}
        self.env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp / "escpos-cache"),
                    **(extra_env or {})}
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "daemon.log"
        # printer -> (host, port) of its virtual printer port, from the ready line of the last
        # start (``--virtual-printer NAME=127.0.0.1:0`` binds a fresh port on every start).
        self.virtual_ports: dict[str, tuple[str, int]] = {}

    def args(self) -> list[str]:
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal", str(self.journal),
                "--listen", f"127.0.0.1:{self.port}", "--log-format", "json"]
        for name, url in self.printers.items():
            args += ["--printer", f"{name}={url}"]
        for role, secret in TOKENS.items():
            args += ["--token", f"{role}:{secret}"]
        return args + self.extra_args

    def start(self) -> None:
        """Start and wait until it serves. A restart keeps the port the first start got."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args(), env=self.env, stdout=log, stderr=log)
        port = wait_until(lambda: self._ready_port(offset), timeout=20, what="daemon ready line")
        if port != self.port or not self.clients:
            self._connect(port)
        wait_until(self._healthy, timeout=20, what="daemon /healthz")

    def _ready_port(self, offset: int) -> int | None:
        """The TCP port in the daemon's ``ready`` log line, once it is written."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
        with self.log_path.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("event") == "ready":
                self.virtual_ports = {
                    name: (host.strip("[]"), int(port))
                    for name, address in (entry.get("virtual_ports") or {}).items()
                    for host, _, port in [str(address).rpartition(":")]
                }
                for address in entry.get("listen", []):
                    _, sep, port = str(address).rpartition(":")
                    if sep and port.isdigit():
                        return int(port)
        return None

    def _connect(self, port: int) -> None:
        for client in self.clients.values():
            client.close()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.clients = {role: httpx.Client(base_url=self.url, timeout=10,
                                           headers={"Authorization": f"Bearer {secret}"})
                        for role, secret in TOKENS.items()}

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def restart(self) -> None:
        self.kill()
        self.start()

    # --- API helpers -------------------------------------------------------------------

    def get(self, path: str, role: str = "pos") -> httpx.Response:
        """GET as ``role``; a daemon that no longer answers fails with its exit code and log."""
        try:
            return self.clients[role].get(path)
        except httpx.TransportError as exc:
            assert self.proc is not None
            raise AssertionError(f"daemon unreachable ({exc!r}), exit code {self.proc.poll()}:\n"
                                 f"{self.log()}") from exc

    def submit(self, body: dict[str, Any], printer: str = "front", role: str = "pos") -> Any:
        r = self.clients[role].post(f"/v1/printers/{printer}/receipts", json=body)
        assert r.status_code in (200, 202), r.text
        return r.json()

    def receipt(self, receipt_id: int) -> Any:
        r = self.get(f"/v1/receipts/{receipt_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def printer(self, name: str = "front") -> Any:
        r = self.get(f"/v1/printers/{name}", role="admin")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_printed(self, receipt_id: int, timeout: float = 20.0) -> Any:
        def done() -> Any:
            r = self.receipt(receipt_id)
            return r if r["state"] == "printed" else None

        try:
            return wait_until(done, timeout=timeout, what=f"receipt {receipt_id} printed")
        except AssertionError:
            raise AssertionError(f"receipt {receipt_id} not printed: {self.receipt(receipt_id)}"
                                 f"\n--- daemon log ---\n{self.log()}") from None

    def wait_state(self, state: str, name: str = "front", timeout: float = 10.0) -> Any:
        return wait_until(lambda: self.printer(name)["state"] == state and self.printer(name),
                          timeout=timeout, what=f"printer {name} {state}")

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for c in self.clients.values():
            c.close()


def closed_by_peer(sock: socket.socket) -> bool:
    """The server closed it (whatever it wrote first is read and dropped)."""
    sock.setblocking(False)
    try:
        while True:
            if sock.recv(65536) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def sample_document(tag: str, lines: int = 8) -> dict[str, Any]:
    """A receipt whose first line names it, so the transcript can be matched to the journal."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": f"RECEIPT {tag}", "align": "center", "bold": True},
        {"type": "rule"},
    ]
    blocks += [{"type": "row", "left": f"Item {i}", "right": f"{i}.00"} for i in range(lines)]
    blocks += [{"type": "row", "left": "TOTAL", "right": f"{lines * (lines - 1) // 2}.00"},
               {"type": "cut"}]
    return {"blocks": blocks}


# --- reading the emulator's transcript ------------------------------------------------

def slips_with(emu: Emulator, needle: str) -> list[list[dict[str, Any]]]:
    return [s for s in emu.transcript.slips()
            if any(e.get("type") == "text" and needle in e.get("text", "") for e in s)]


# A copy names the original's print time ("COPY 1 - original 14:03"); a copy of a receipt
# that never printed (failed, its client told so) is "COPY 1" alone.
MARKER = re.compile(r"^\s*(COPY \d+|\*\*\* REPRINT)")


def is_marked(slip: list[dict[str, Any]]) -> bool:
    """A slip is marked when a COPY or REPRINT marker line is on it."""
    return any(e.get("type") == "text" and MARKER.match(e["text"]) for e in slip)

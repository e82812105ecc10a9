"""Helpers for the spooler's end-to-end tests (not a test module): long receipts, a daemon
with a configuration file, and what the journal says about a printer's states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from receiptd.emulator import Emulator

from ..support import DaemonProcess


def long_text(tag: str, lines: int = 200) -> str:
    """A plain-text receipt of ``lines`` item lines (~47 bytes each: 200 lines are ~9 KB),
    named by its first line and ending in a TOTAL line, as ``rig.occurrences`` reads them."""
    items = [f"{i:03d} Item description number {i:03d} ....... {i}.00" for i in range(lines)]
    return "\n".join([f"RECEIPT {tag}", *items, "TOTAL 999.00", ""])


def start_daemon(tmp: Path, emu: Emulator, toml: str = "") -> DaemonProcess:
    """The real daemon on the emulator's TCP port, with ``[printers.front]`` settings."""
    config = tmp / "spool.toml"
    config.write_text(f"[printers.front]\nurl = \"{emu.tcp_url}\"\n{toml}")
    daemon = DaemonProcess(tmp, {"front": emu.tcp_url}, extra_args=["--config", str(config)])
    daemon.start()
    return daemon


def states_since(daemon: DaemonProcess, first_id: int = 0) -> list[str]:
    """The printer's state changes the journal recorded (oldest first), after event
    ``first_id``."""
    r = daemon.clients["admin"].get("/v1/printers/front/events", params={"limit": 1000})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return [e["state"] for e in sorted(events, key=lambda e: e["id"]) if e["id"] > first_id]


def last_event_id(daemon: DaemonProcess) -> int:
    r = daemon.clients["admin"].get("/v1/printers/front/events", params={"limit": 1})
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    return int(events[0]["id"]) if events else 0

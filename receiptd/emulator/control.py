"""Control interface: one command per line in, one reply line out.

Replies are ``ok [detail]`` or ``error <message>``; ``status`` and ``transcript`` reply with one
JSON object, ``text`` with one JSON string. ``execute(target, line)`` is the same thing as a
Python call (``Emulator.command``), and ``ControlServer`` serves it on a TCP port.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from typing import Any, Protocol

from receiptd.emulator.config import EmulatorError
from receiptd.emulator.status import ACTIONS, FAULT_NAMES
from receiptd.emulator.transcript import Transcript

# Shorthands for ``clear FAULT``: what an operator does at the printer.
CLEAR_ALIASES = {
    "paper_load": "paper_out", "cover_close": "cover_open", "unsilent": "silent",
    "cool": "overheat", "fast": "slow", "drawer_close": "drawer_open",
    "near_end_clear": "near_end",
}

HELP = {
    "status": "JSON snapshot: faults, buffer, printed mm, counters, connections",
    "transcript": "the transcript as JSON",
    "text": "the readable transcript as a JSON string",
    "reset": "clear the transcript",
    "inject FAULT [k=v ...]": "make a fault happen now (FAULT alone is the same)",
    "clear FAULT": "end a fault as an operator would",
    "arm FAULT after_bytes=N|after_mm=N|on_cut [k=v ...]": "make a fault happen later",
    "disarm [FAULT]": "forget armed triggers",
    "recover": "operator recovery from cutter_error / jam",
    "paper_load, cover_close, unsilent, cool, fast, drawer_close": "shorthands for clear",
    "faults": " ".join(sorted(FAULT_NAMES | ACTIONS)),
}


class Target(Protocol):
    """What the control port drives (``Emulator``)."""

    def inject(self, fault: str, **kw: Any) -> None: ...
    def clear(self, fault: str) -> None: ...
    def arm(self, fault: str, **kw: Any) -> dict[str, Any]: ...
    def disarm(self, fault: str | None = None) -> int: ...
    def snapshot(self) -> dict[str, Any]: ...
    def reset(self) -> None: ...
    @property
    def transcript(self) -> Transcript: ...


def parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_args(words: list[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not key:
            raise EmulatorError(f"bad argument {word!r}")
        kw[key] = parse_value(value) if eq else True
    return kw


def execute(target: Target, line: str) -> str:
    """Run one control command; never raises."""
    words = line.split()
    if not words:
        return "error empty command"
    try:
        return _execute(target, words[0].lower(), words[1:])
    except (EmulatorError, ValueError, TypeError) as exc:
        return f"error {exc}"


def _execute(target: Target, cmd: str, rest: list[str]) -> str:
    if cmd == "status":
        return json.dumps(target.snapshot())
    if cmd == "transcript":
        return target.transcript.to_json()
    if cmd == "text":
        return json.dumps(target.transcript.text(), ensure_ascii=False)
    if cmd == "help":
        return json.dumps(HELP)
    if cmd == "reset":
        target.reset()
        return "ok"
    if cmd == "clear":
        _need(rest, "clear FAULT")
        target.clear(rest[0])
        return "ok"
    if cmd in CLEAR_ALIASES:
        target.clear(CLEAR_ALIASES[cmd])
        return "ok"
    if cmd == "recover":
        faults = target.snapshot()["faults"]
        for fault in ("cutter_error", "jam"):
            if fault in faults:
                target.clear(fault)
        return "ok"
    if cmd == "arm":
        _need(rest, "arm FAULT after_bytes=N|after_mm=N|on_cut")
        return "ok " + json.dumps(target.arm(rest[0], **parse_args(rest[1:])))
    if cmd == "disarm":
        return f"ok {target.disarm(rest[0] if rest else None)}"
    if cmd == "inject":
        _need(rest, "inject FAULT")
        cmd, rest = rest[0], rest[1:]
    if cmd == "garbage" and rest and "=" not in rest[0]:
        rest = ["hex=" + "".join(rest)]
    if cmd in FAULT_NAMES or cmd in ACTIONS:
        target.inject(cmd, **parse_args(rest))
        return "ok"
    return f"error unknown command {cmd!r} (try: help)"


def _need(rest: list[str], usage: str) -> None:
    if not rest:
        raise EmulatorError(f"usage: {usage}")


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        for raw in self.rfile:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            if line in ("quit", "exit"):
                return
            reply = execute(self.server.target, line)
            self.wfile.write(reply.encode("utf-8") + b"\n")
            self.wfile.flush()


class ControlServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, target: Target, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        super().__init__((host, port), _Handler)
        self.port: int = self.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="emulator-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()


def send_command(host: str, port: int, line: str, timeout: float = 10.0) -> str:
    """Send one control command and return the reply line (client side, for the CLI)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(line.strip().encode("utf-8") + b"\n")
        reply = bytearray()
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode("utf-8", errors="replace").rstrip("\n")

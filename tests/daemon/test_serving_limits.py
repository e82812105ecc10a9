"""The daemon's own serving under resource exhaustion, with real sockets on loopback: hundreds
of connections that never finish their headers, a body that stops halfway, more event streams
than the daemon keeps. A till's receipt is still answered at once, the stalled connections
are closed in bounded time, and the log does not fill the disk.

The daemon runs with 512 file descriptors (soft and hard, so it cannot raise them), the way
a unit without ``LimitNOFILE`` left it with 1024: more connections than descriptors. It serves
with httptools on uvloop, as installed; ``test_connection_guard`` runs the same rules on h11
too."""

from __future__ import annotations

import contextlib
import json
import re
import resource
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, closed_by_peer, wait_until

pytestmark = pytest.mark.timeout(300)

NOFILE = 512
#: Runs the daemon with NOFILE descriptors, soft and hard.
_LIMITED = ("import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({NOFILE}, {NOFILE})); "
            "os.execv(sys.argv[1], sys.argv[1:])")


class LimitedDaemon(DaemonProcess):
    def args(self) -> list[str]:
        return [sys.executable, "-c", _LIMITED, *super().args()]


@pytest.fixture
def limited(emulator: Emulator, tmp_path: Path) -> Iterator[LimitedDaemon]:
    # This process holds the other end of every connection: make sure it may.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2000, hard), hard))
    emulator.start_tcp()
    daemon = LimitedDaemon(tmp_path, {"front": emulator.tcp_url})
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def serving(daemon: DaemonProcess) -> tuple[str, str]:
    """The HTTP implementation and event loop the ready line names."""
    for line in daemon.log_path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == "ready":
                return entry["http"], entry["loop"]
    raise AssertionError(f"no ready line: {daemon.log()}")


def submit_now(daemon: DaemonProcess, text: str) -> int:
    """A till's submission on a fresh connection: its status, 0 when it was not answered
    within the client's 10 s (a starved till)."""
    try:
        with httpx.Client(base_url=daemon.url, timeout=10,
                          headers={"Authorization": f"Bearer {TOKENS['pos']}"}) as client:
            status = client.post("/v1/printers/front/receipts", json={"text": text}).status_code
    except httpx.HTTPError:
        status = 0
    return status


def test_slow_headers_and_bodies_cannot_starve_a_till(limited: LimitedDaemon) -> None:
    """600 connections send a request line and then a byte of header every two seconds; one
    more sends half its body and stops. The till's submissions are answered (a starved one
    would time out), every stalled connection is closed within a minute (the stalled body
    with 408), and the log grows by kilobytes, not hundreds of megabytes."""
    daemon = limited
    assert serving(daemon) == ("httptools", "uvloop")  # the guard on the C parser
    log_before = daemon.log_path.stat().st_size
    port = daemon.port
    stalled: list[socket.socket] = []
    body = socket.create_connection(("127.0.0.1", port), timeout=10)
    body.sendall(b"POST /v1/printers/front/receipts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Authorization: Bearer " + TOKENS["pos"].encode() + b"\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text\": ")
    for _ in range(600):
        sock = socket.socket()
        sock.settimeout(10)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            sock.close()
            continue
        stalled.append(sock)
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(2):
            for sock in stalled:
                with contextlib.suppress(OSError):
                    sock.send(b"X")

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    try:
        answers = [submit_now(daemon, f"during the flood {i}") for i in range(5)]
        assert answers == [202] * 5, (answers, daemon.log())
        wait_until(lambda: all(closed_by_peer(s) for s in stalled), timeout=60,
                   what="every stalled connection closed by the daemon")
        body.settimeout(60)
        answer = body.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"request_timeout" in answer
    finally:
        stop.set()
        dripping.join(10)
        for sock in [*stalled, body]:
            sock.close()
    grown = daemon.log_path.stat().st_size - log_before
    assert grown < 200_000, f"the log grew by {grown} bytes"
    assert submit_now(daemon, "after the flood") == 202


def test_event_streams_are_capped_and_submits_still_answered(
    limited: LimitedDaemon,
) -> None:
    """40 event streams from one address: 16 are served, the rest refused with 503
    too_many_streams at once; receipts are still accepted and reach the open streams."""
    daemon = limited
    streams: list[socket.socket] = []
    refused = 0
    request = (b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
               + TOKENS["pos"].encode() + b"\r\n\r\n")
    try:
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
            sock.sendall(request)
            head = sock.recv(4096)
            if head.startswith(b"HTTP/1.1 200"):
                streams.append(sock)
                continue
            assert head.startswith(b"HTTP/1.1 503"), head[:200]
            assert json.loads(rest_of_answer(sock, head))["error"]["code"] == "too_many_streams"
            refused += 1
            sock.close()
        assert (len(streams), refused) == (16, 24)
        assert submit_now(daemon, "while streams are full") == 202
        streams[0].settimeout(20)
        seen = b""
        deadline = time.monotonic() + 20
        # Its first event: queued, or sending when handed straight to the idle printer.
        while not re.search(rb'"print_state": "(queued|sending)"', seen):
            assert time.monotonic() < deadline, seen[-500:]
            chunk = streams[0].recv(65536)
            assert chunk, "stream closed"
            seen += chunk
    finally:
        for sock in streams:
            sock.close()
    # Closed streams give their places back.
    wait_until(lambda: _stream_status(daemon) == 200, timeout=20, what="a stream place again")


def rest_of_answer(sock: socket.socket, head: bytes) -> bytes:
    """The body of an answer whose first bytes were ``head`` (it has a Content-Length)."""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    fields, body = head.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":", 1)[1]) for line in fields.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return body


def _stream_status(daemon: DaemonProcess) -> int:
    with httpx.Client(base_url=daemon.url, timeout=10,
                      headers={"Authorization": f"Bearer {TOKENS['pos']}"}) as client, \
            client.stream("GET", "/v1/events") as r:
        return r.status_code


#: Runs the daemon as if httptools and uvloop were not installed (an import of either fails).
_WITHOUT_C_PARTS = ("import runpy, sys; sys.modules['httptools'] = sys.modules['uvloop'] = None; "
                    "sys.argv = ['receiptd', *sys.argv[1:]]; "
                    "runpy.run_module('receiptd.cli.daemon', run_name='__main__')")


class PurePythonDaemon(DaemonProcess):
    def args(self) -> list[str]:
        args = super().args()
        assert args[1:3] == ["-m", "receiptd.cli.daemon"], args
        return [sys.executable, "-c", _WITHOUT_C_PARTS, *args[3:]]


def test_without_httptools_and_uvloop_the_daemon_serves_on_h11_and_asyncio(
    emulator: Emulator, tmp_path: Path,
) -> None:
    """A machine without the C wheels still serves, guarded the same: h11 on asyncio's loop.
    A request left halfway still gets 408 (the head's time is 10 s)."""
    emulator.start_tcp()
    daemon = PurePythonDaemon(tmp_path, {"front": emulator.tcp_url})
    daemon.start()
    try:
        assert serving(daemon) == ("h11", "asyncio")
        assert submit_now(daemon, "on h11") == 202
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as half:
            half.sendall(b"GET /v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            half.settimeout(30)
            answer = half.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    finally:
        daemon.close()


def test_the_unit_sets_a_file_descriptor_limit() -> None:
    unit = Path(__file__).parents[2] / "systemd" / "receiptd.service"
    lines = [line.strip() for line in unit.read_text().splitlines()]
    limits = [line.split("=", 1)[1] for line in lines if line.startswith("LimitNOFILE=")]
    assert limits and int(limits[0]) >= 2048, limits


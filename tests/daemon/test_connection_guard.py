"""The connection guard's rules, the same on both of uvicorn's parsers it runs on: httptools
on uvloop (what the daemon serves with when they are installed) and h11 on asyncio's loop
(where they are not). A real uvicorn server on loopback in a thread, real sockets from the
test, a small app whose answers the test holds back to keep connections busy."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
import uvloop

from receiptd.api import connections
from receiptd.api.connections import ConnectionGuard, Limits, guarded_protocol

from ..support import closed_by_peer, wait_until

pytestmark = pytest.mark.timeout(120)

STACKS = [("httptools", "uvloop"), ("h11", "asyncio")]
#: Limits for the rules about room: nothing times out while a test looks.
ROOMY = Limits(total=8, per_client=4, head_timeout_s=60.0, request_timeout_s=60.0)
#: Limits for the rules about time.
#: (A test writes its first bytes right after connecting, well within the head's time.)
HASTY = Limits(total=8, per_client=4, head_timeout_s=1.5, request_timeout_s=3.0)


@dataclass
class App:
    """Answers 200 "ok" once the request's body is in; ``/hold`` only once released. Notes
    each request's method and ``writes_in_progress()`` as the app saw it."""

    released: asyncio.Event = field(default_factory=asyncio.Event)
    seen: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        self.seen.append((scope["method"], connections.writes_in_progress()))
        if scope["path"] == "/hold":
            await self.released.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@dataclass
class Served:
    port: int
    guard: ConnectionGuard
    app: App
    loop: asyncio.AbstractEventLoop
    implementation: str

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.app.released.set)


@contextlib.contextmanager
def serving(implementation: str, loop_name: str, limits: Limits) -> Iterator[Served]:
    guard = ConnectionGuard(limits)
    app = App()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    protocol = guarded_protocol(guard, implementation)
    server = uvicorn.Server(uvicorn.Config(
        app, http=protocol, ws="none", lifespan="off", log_config=None, access_log=False,
        timeout_graceful_shutdown=5))
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        factory = uvloop.new_event_loop if loop_name == "uvloop" else None
        with asyncio.Runner(loop_factory=factory) as runner:
            loops.append(runner.get_loop())
            runner.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name="guarded-server", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20, what="the server listening")
        served = Served(sock.getsockname()[1], guard, app, loops[0], protocol.implementation)
        assert type(served.loop).__module__.split(".")[0] == loop_name
        yield served
    finally:
        if loops:
            loops[0].call_soon_threadsafe(app.released.set)
        server.should_exit = True
        thread.join(20)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


@pytest.fixture(params=STACKS, ids=lambda s: "+".join(s))
def stack(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


def answer(sock: socket.socket) -> bytes:
    """Everything the server writes until it closes the connection."""
    sock.settimeout(10)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def one_answer(sock: socket.socket) -> bytes:
    """One answer with a two-byte body ("ok"), the connection kept open."""
    sock.settimeout(10)
    out = b""
    while not (b"\r\n\r\n" in out and out.endswith(b"ok")):
        chunk = sock.recv(65536)
        assert chunk, out
        out += chunk
    return out


GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HOLD = b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"


def hold_every_connection(served: Served) -> list[socket.socket]:
    """Every connection one client may hold, each with a request the app holds (busy)."""
    busy = [served.connect() for _ in range(ROOMY.per_client)]
    try:
        for sock in busy:
            sock.sendall(HOLD)
        wait_until(lambda: len(served.app.seen) == ROOMY.per_client, timeout=10,
                   what="every held request in the app")
    except BaseException:
        for sock in busy:
            sock.close()
        raise
    return busy


def test_the_protocol_is_the_one_asked_for(stack: tuple[str, str]) -> None:
    with serving(*stack, ROOMY) as served, served.connect() as sock:
        assert served.implementation == stack[0]
        sock.sendall(GET)
        assert one_answer(sock).startswith(b"HTTP/1.1 200")


def test_a_request_that_stops_halfway_gets_408(stack: tuple[str, str]) -> None:
    """Half a head, half a body: 408 request_timeout, then the connection is closed. A
    connection that sent nothing is closed without a word."""
    with serving(*stack, HASTY) as served, served.connect() as head, \
            served.connect() as body, served.connect() as silent:
        head.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        body.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
        for sock in (head, body):
            got = answer(sock)
            assert got.startswith(b"HTTP/1.1 408 Request Timeout"), got
            assert b'"code": "request_timeout"' in got
        assert answer(silent) == b""


def test_the_next_request_on_a_kept_connection_has_its_own_time(
        stack: tuple[str, str]) -> None:
    """An answered request leaves the connection idle: it is closed (no 408) when no next
    request comes, and a next request that stops halfway (sent along with the first, so it
    is there when the first is answered) gets 408; a slow answer is not timed."""
    with serving(*stack, HASTY) as served, served.connect() as idle, \
            served.connect() as stalled:
        idle.sendall(GET)
        stalled.sendall(HOLD + b"GET / HTTP/1.1\r\n")
        wait_until(lambda: len(served.app.seen) == 2, timeout=10, what="both requests in")
        assert answer(idle).count(b"HTTP/1.1") == 1
        served.release()  # after the head's time: the held answer still goes out
        got = answer(stalled)
        assert got.startswith(b"HTTP/1.1 200 OK"), got
        assert b"HTTP/1.1 408 Request Timeout" in got, got


def test_a_head_that_never_ends_is_cut_short(stack: tuple[str, str]) -> None:
    """One header that never ends: the server gives up on it (400, then closes) long before
    its time is up, instead of reading it all into memory. The client finds out as soon as
    it writes into the closed connection."""
    with serving(*stack, ROOMY) as served, served.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ")
        sent = 0
        with pytest.raises(OSError):  # the reset of a connection the server closed
            while sent < 256 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        assert sent < 64 * 1024 * 1024, sent


def test_a_full_house_sheds_the_oldest_idle_connection(stack: tuple[str, str]) -> None:
    with serving(*stack, ROOMY) as served:
        idle = [served.connect() for _ in range(ROOMY.per_client)]
        try:
            wait_until(lambda: served.guard.count == ROOMY.per_client, timeout=10,
                       what="every connection admitted")
            with served.connect() as till:
                till.sendall(GET)
                assert one_answer(till).startswith(b"HTTP/1.1 200")
            wait_until(lambda: closed_by_peer(idle[0]), timeout=10, what="the oldest shed")
            assert not any(closed_by_peer(sock) for sock in idle[1:])
        finally:
            for sock in idle:
                sock.close()


def test_busy_connections_are_not_shed_and_a_newcomer_is_refused_503(
        stack: tuple[str, str]) -> None:
    with serving(*stack, ROOMY) as served:
        busy = hold_every_connection(served)
        try:
            with served.connect() as late:
                late.sendall(GET)  # never read: dropped before the 503, so no reset loses it
                got = answer(late)  # after connections.ADMIT_WAIT_S
            assert got.startswith(b"HTTP/1.1 503 Service Unavailable"), got
            assert b'"code": "too_many_connections"' in got
            served.release()
            for sock in busy:
                assert one_answer(sock).startswith(b"HTTP/1.1 200")
        finally:
            for sock in busy:
                sock.close()


def test_a_newcomer_waits_for_a_busy_connection_to_become_idle(
        stack: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The newcomer's request waits unread while every connection is busy; once one is
    answered (and so idle) it is shed and the newcomer served."""
    monkeypatch.setattr(connections, "ADMIT_WAIT_S", 60.0)
    with serving(*stack, ROOMY) as served:
        busy = hold_every_connection(served)
        try:
            with served.connect() as late:
                late.sendall(GET)
                wait_until(lambda: len(served.guard.waiting) == 1, timeout=10,
                           what="the newcomer waiting")
                served.release()
                assert one_answer(late).startswith(b"HTTP/1.1 200")
        finally:
            for sock in busy:
                sock.close()


def test_writes_in_progress_counts_requests_that_may_write(stack: tuple[str, str]) -> None:
    with serving(*stack, ROOMY) as served, served.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab")
        assert one_answer(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(GET)
        assert one_answer(sock).startswith(b"HTTP/1.1 200")
        assert served.app.seen == [("POST", 1), ("GET", 0)]
        wait_until(lambda: connections.writes_in_progress() == 0, timeout=10,
                   what="no write in progress")

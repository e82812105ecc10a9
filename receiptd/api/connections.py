"""Connections to the API: how many, from whom, and how long a request may take to arrive.

uvicorn keeps a connection that never finishes its request headers forever, and accepts as
many as the process has file descriptors: 1,100 such connections (no token needed) took every
descriptor, and the API stopped answering. ``GuardedProtocol`` puts these rules on top of
uvicorn's HTTP/1.1 protocol:

* **a request must arrive in time**: its line and headers within ``HEAD_TIMEOUT_S`` of the
  connection (or of the previous answer on it), its body within ``REQUEST_TIMEOUT_S`` of that;
  otherwise 408 ``request_timeout`` and the connection is closed;
* **at most ``Limits.total`` connections**, ``Limits.per_client`` from one address, with the
  total derived from the process's file-descriptor limit so that accepting never runs out;
  a proxy the admin names (``Limits.proxies``: ``[daemon] trusted_proxies``) carries many
  clients and is held to the total only;
* **a full house sheds the idle first**: a new connection over a limit closes the oldest
  connection that is not in the middle of a request (still sending its headers, or idle
  between requests), from the address holding the most; only when every connection is busy
  with a request is the new one refused (503 ``too_many_connections``);
* **a newcomer waits its turn before it is refused**: connections accepted in one round have
  bytes the event loop has not read yet, so they cannot be told from whole requests and are
  not shed. A connection that finds no room waits, unread, for up to ``ADMIT_WAIT_S`` while
  the loop reads its neighbours, and asks again every ``ADMIT_RETRY_S``. At most
  ``ADMIT_WAITING`` wait at once: a newcomer beyond that turns the longest-waiting one away
  (503), so the connection that arrives after a flood (a till's) is the one still waiting
  when its neighbours' bytes have been read and they can be shed.

A till that sends a whole request at once is therefore always served, however many
half-open connections someone else holds. Event streams are limited separately
(``receiptd.api.events``), below the total, so they cannot take every connection either.

The rules are written once, here; what they need to know of a connection (where its request
is: ``Phase``, and the request being answered) comes from a small subclass per parser:
``connections_httptools`` (uvicorn's httptools protocol, used when httptools is installed)
and ``connections_h11`` (its pure-Python h11 protocol, where the C parser is not).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import ipaddress
import json
import os
import struct
import termios
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import structlog
from uvicorn._types import HTTPScope

log = structlog.get_logger("receiptd.api")

MAX_CONNECTIONS = 512
#: File descriptors kept for everything else: journal connections (three per thread),
#: printer links, logs, and what one accept round takes before the limits apply.
FD_RESERVE = 256
HEAD_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
#: How long a connection that found no room waits for one, how often it asks again, and how
#: many may wait at once.
ADMIT_WAIT_S = 1.0
ADMIT_RETRY_S = 0.005
ADMIT_WAITING = 64
#: A refused connection's request is read and dropped before the 503, up to this much.
DROP_UNREAD_MAX = 256 * 1024
#: How often the guard reports what it shed (one line per period, not one per connection).
REPORT_EVERY_S = 10.0


@dataclass(frozen=True)
class Limits:
    total: int = MAX_CONNECTIONS
    per_client: int = MAX_CONNECTIONS // 4
    head_timeout_s: float = HEAD_TIMEOUT_S
    request_timeout_s: float = REQUEST_TIMEOUT_S
    #: The networks of the proxies the admin names: not held to ``per_client``.
    proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def is_proxy(self, address: str) -> bool:
        """Whether connections from ``address`` come through a named proxy."""
        if not self.proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:  # "local": a Unix socket
            return False
        return any(ip in network for network in self.proxies)


#: Requests that may write (any method but GET, HEAD, OPTIONS) read but not yet answered, on
#: every guarded server of this process. Event-loop only. The submit route commits on the
#: loop itself when it is the only one, and hands its commit to the journal writer (where
#: the others' join it) when more are under way.
_writes_in_progress = 0
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes_in_progress() -> int:
    """How many requests that may write were read and are not answered yet (see above)."""
    return _writes_in_progress


def limits_for(nofile: int) -> Limits:
    """The limits for a process allowed ``nofile`` descriptors."""
    total = max(16, min(MAX_CONNECTIONS, nofile - FD_RESERVE))
    return Limits(total=total, per_client=max(4, total // 4))


@dataclass
class ConnectionGuard:
    """The connections of one server, by client address. Event-loop only."""

    limits: Limits = field(default_factory=Limits)
    clients: dict[str, list[GuardedProtocol]] = field(default_factory=dict)
    count: int = 0
    waiting: collections.deque[GuardedProtocol] = field(default_factory=collections.deque)
    shed: Counter[str] = field(default_factory=Counter)
    _reporting: bool = False

    def admit(self, conn: GuardedProtocol) -> bool:
        """Take ``conn`` in, closing an idle connection to make room if needed; False when
        every connection in the way is busy with a request."""
        mine = self.clients.setdefault(conn.client_key, [])
        if (len(mine) >= self.limits.per_client and not self.limits.is_proxy(conn.client_key)
                and not self._shed_from([mine])):
            return False
        if self.count >= self.limits.total:
            crowd = sorted(self.clients.values(), key=len, reverse=True)
            if not self._shed_from(crowd):
                return False
        mine.append(conn)
        self.count += 1
        return True

    def release(self, conn: GuardedProtocol) -> None:
        mine = self.clients.get(conn.client_key)
        if mine is None:
            return
        if conn in mine:
            mine.remove(conn)
            self.count -= 1
        if not mine:
            del self.clients[conn.client_key]

    def note(self, what: str, loop: asyncio.AbstractEventLoop) -> None:
        """Count something shed; reported once per ``REPORT_EVERY_S``."""
        self.shed[what] += 1
        if not self._reporting:
            self._reporting = True
            loop.call_later(REPORT_EVERY_S, self._report)

    def _report(self) -> None:
        self._reporting = False
        if self.shed:
            log.warning("connections_shed", **dict(self.shed), open=self.count,
                        addresses=len(self.clients), seconds=REPORT_EVERY_S)
            self.shed.clear()

    def _shed_from(self, groups: list[list[GuardedProtocol]]) -> bool:
        for group in groups:
            idle = [c for c in group if c.between_requests()]
            if idle:
                oldest = min(idle, key=lambda c: c.waiting_since)
                oldest.expire("shed")
                self.release(oldest)
                return True
        return False


#: Where a connection's request is: ``idle`` (nothing of a request yet), ``head`` (part of
#: its line and headers), ``body`` (headers in, body still coming), ``done`` (all of it in,
#: the answer not finished yet).
Phase = Literal["idle", "head", "body", "done"]


class Request(Protocol):
    """What the guard reads of uvicorn's request-response cycle (both parsers have one)."""

    @property
    def scope(self) -> HTTPScope: ...
    @property
    def response_started(self) -> bool: ...
    @property
    def response_complete(self) -> bool: ...


class GuardedProtocol(asyncio.Protocol):
    """The guard's rules on one of uvicorn's HTTP/1.1 protocols. A subclass per parser
    (``connections_h11``, ``connections_httptools``) puts this first among its bases, says
    where the request is (``phase``) and which request is being answered (``request``), and
    hands uvicorn's ``on_response_complete`` to ``_answered``. ``guarded_protocol``
    subclasses it once more per server, to set ``guard``."""

    guard: ConnectionGuard
    #: Which parser: "httptools" or "h11".
    implementation: str
    # Set by uvicorn's protocol.
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None

    def phase(self) -> Phase:
        raise NotImplementedError

    def request(self) -> Request | None:
        """The request being answered (or the last one answered), None before the first."""
        raise NotImplementedError

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_key = self.client[0] if self.client else "local"
        self.waiting_since = self.loop.time()
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_kind = ""
        self._admission: asyncio.TimerHandle | None = None
        self._early: list[bytes] = []
        if self.guard.admit(self):
            self._follow()
        else:
            if len(self.guard.waiting) >= ADMIT_WAITING:
                longest = self.guard.waiting[0]
                longest._stop_waiting()
                longest._refuse()
            self.guard.waiting.append(self)
            self.transport.pause_reading()  # asyncio's loop; uvloop starts reading after this
            self._admission = self.loop.call_later(ADMIT_RETRY_S, self._ask_again,
                                                   self.loop.time() + ADMIT_WAIT_S)

    def _ask_again(self, until: float) -> None:
        if self.guard.admit(self):
            self._stop_waiting()
            early, self._early = b"".join(self._early), []
            self.transport.resume_reading()
            if early:
                self.data_received(early)
            self._follow()
        elif self.loop.time() < until:
            self._admission = self.loop.call_later(ADMIT_RETRY_S, self._ask_again, until)
        else:
            self._stop_waiting()
            self._refuse()

    def _stop_waiting(self) -> None:
        if self._admission is not None:
            self._admission.cancel()
            self._admission = None
            self.guard.waiting.remove(self)

    def _refuse(self) -> None:
        self.guard.note("refused", self.loop)
        self._drop_unread()
        self._answer(503, "too_many_connections",
                     "the daemon has no connection to spare; retry in a moment")
        self.transport.close()

    def _drop_unread(self) -> None:
        """Read and drop what the client sent while it waited (reading was paused): a socket
        closed with bytes unread is reset, and the reset makes the client's kernel throw the
        503 away before the client reads it. At most ``DROP_UNREAD_MAX`` bytes, never
        waiting (the socket is non-blocking)."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return
        dropped = 0
        with contextlib.suppress(OSError):  # BlockingIOError: nothing more to read
            while dropped < DROP_UNREAD_MAX and (chunk := os.read(sock.fileno(), 65536)):
                dropped += len(chunk)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_waiting()
        self.guard.release(self)
        self._uncount()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admission is not None:
            # Waiting for room: uvloop reads once even when connection_made paused reading.
            # The bytes wait for the parser until the connection is let in.
            self._early.append(data)
            self.transport.pause_reading()
            return
        super().data_received(data)
        self._count()
        self._follow()

    def _answered(self, uvicorn_answered: Callable[[], None]) -> None:
        """An answer is complete: the next request's time starts now. ``uvicorn_answered``
        is the protocol's own ``on_response_complete`` (it may start a pipelined request)."""
        self.waiting_since = self.loop.time()
        self._disarm()
        self._uncount()
        uvicorn_answered()
        if not self.transport.is_closing():
            self._count()
            self._follow()

    def between_requests(self) -> bool:
        """Not in the middle of a request: still sending its headers, or idle, with nothing
        waiting unread (a request that arrived in the same round as this connection's
        neighbours is not idle, only not read yet)."""
        request = self.request()
        return self.phase() in ("idle", "head") and (
            request is None or request.response_complete) and not self._unread()

    def _unread(self) -> int:
        """Bytes the kernel holds for this connection that the event loop has not read."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return 0
        try:
            found = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", found)[0])

    def expire(self, why: str) -> None:
        """Close: 408 when the client is still sending a request nobody answered yet."""
        self._disarm()
        if self.transport.is_closing():
            return
        request = self.request()
        unanswered = (request is None or request.response_complete
                      or not request.response_started)
        if unanswered and self.phase() != "idle":
            self._answer(408, "request_timeout",
                         "the request did not arrive in time; the connection is closed")
        self.guard.note(why, self.loop)
        self.transport.close()

    # -- writes in progress ---------------------------------------------------------------------

    _counted: object = None  # the request (cycle) counted in ``_writes_in_progress``

    def _count(self) -> None:
        global _writes_in_progress
        request = self.request()
        if (request is not None and request is not self._counted
                and not request.response_complete
                and request.scope["method"] not in _READ_METHODS):
            self._uncount()
            self._counted = request
            _writes_in_progress += 1

    def _uncount(self) -> None:
        global _writes_in_progress
        if self._counted is not None:
            self._counted = None
            _writes_in_progress -= 1

    # -- deadlines ------------------------------------------------------------------------------

    def _follow(self) -> None:
        """Arm the deadline that fits where the request is."""
        phase = self.phase()
        if phase in ("idle", "head"):
            if self._deadline is None:
                self._arm("head", self.guard.limits.head_timeout_s)
        elif phase == "body":
            if self._deadline_kind != "body":
                spent = self.loop.time() - self.waiting_since
                self._arm("body", max(0.0, self.guard.limits.request_timeout_s - spent))
        else:  # the whole request is in: the answer may take as long as it takes
            self._disarm()

    def _arm(self, kind: str, seconds: float) -> None:
        self._disarm()
        self._deadline_kind = kind
        self._deadline = self.loop.call_later(seconds, self.expire, "timed_out")

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._deadline_kind = ""

    def _answer(self, status: int, code: str, message: str) -> None:
        """An error answer written straight to the socket (no request to answer through
        the protocol yet), then nothing more on this connection."""
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        reason = {408: b"Request Timeout", 503: b"Service Unavailable"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body))


def http_implementation() -> str:
    """The HTTP parser to serve with: httptools (C, uvicorn's fastest) when it is installed,
    else h11 (pure Python, always there: uvicorn depends on it)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def guarded_protocol(guard: ConnectionGuard,
                     implementation: str | None = None) -> type[GuardedProtocol]:
    """The protocol class for one server (uvicorn makes connections from a class), on the
    given parser ("httptools" or "h11"; by default ``http_implementation()``)."""
    base: type[GuardedProtocol]
    if (implementation or http_implementation()) == "httptools":
        from receiptd.api.connections_httptools import GuardedHttpToolsProtocol

        base = GuardedHttpToolsProtocol
    else:
        from receiptd.api.connections_h11 import GuardedH11Protocol

        base = GuardedH11Protocol
    return type(f"Receiptd{base.__name__}", (base,), {"guard": guard})

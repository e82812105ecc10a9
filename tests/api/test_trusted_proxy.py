"""Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the
proxies ``[daemon] trusted_proxies`` names, against the real daemon on 127.0.0.1.

By default nobody is believed: a local process that writes a new ``X-Forwarded-For`` on each
wrong secret still spends its own address's failure budget, and one that says
``X-Forwarded-Proto: https`` over plain HTTP gets no ``Secure`` cookie. With 127.0.0.1 named,
the TLS proxy on the box is believed: each client it forwards has a budget of its own, taken
from the right-most address of the header (the one the proxy appended), and its HTTPS makes
the console's cookie ``Secure``."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import httpx
import pytest

from receiptd.api.throttle import FAILURE_BURST, FAILURES_PER_S
from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, closed_by_peer

pytestmark = pytest.mark.timeout(180)

_unknown_key_ids = count(1)


def wrong_secret() -> str:
    """A well-formed stored-token secret for a key id no token has: checked (hashed) and
    counted like any wrong secret, and a new key id each time, so only the address's budget
    can run out."""
    return f"rct_{next(_unknown_key_ids):012x}_not-the-secret"


def stored_tokens_exist(daemon: DaemonProcess) -> None:
    """Wrong secrets are counted once the journal holds a token (before, none is hashed)."""
    r = daemon.clients["admin"].post("/v1/tokens", json={"name": "till-1", "role": "pos"})
    assert r.status_code == 201, r.text


def fail_until_refused(client: httpx.Client, forwarded_for: Callable[[int], str | None]
                       ) -> tuple[int, httpx.Response]:
    """Wrong secrets, one after another, until one is refused with 429; returns how many
    were answered 401 first, and the 429.

    The budget is ``FAILURE_BURST`` failures, refilled at ``FAILURES_PER_S`` on the daemon's
    clock: no more than the burst plus what the time they took refilled can be answered 401.
    One more than that is the budget dodged, and stops the loop."""
    started = time.monotonic()
    for unauthorized in count():
        headers = {"Authorization": f"Bearer {wrong_secret()}"}
        address = forwarded_for(unauthorized)
        if address is not None:
            headers["X-Forwarded-For"] = address
        r = client.get("/v1/receipts/1", headers=headers)
        if r.status_code == 429:
            return unauthorized, r
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized"), r.text
        refilled = math.ceil((time.monotonic() - started) * FAILURES_PER_S)
        assert unauthorized + 1 <= FAILURE_BURST + refilled, (
            f"{unauthorized + 1} wrong secrets answered 401 and none 429: the budget of "
            f"{FAILURE_BURST} (+{refilled} refilled) was not kept")
    raise AssertionError("unreachable")


def assert_budget_spent(unauthorized: int, refused: httpx.Response) -> None:
    assert unauthorized >= FAILURE_BURST, unauthorized
    assert refused.json()["error"]["code"] == "too_many_failures", refused.text
    assert "from this address" in refused.json()["error"]["message"], refused.text
    assert int(refused.headers["retry-after"]) >= 1


def sign_in(client: httpx.Client, **headers: str) -> str:
    """The console's sign-in; returns its ``Set-Cookie`` header."""
    r = client.post("/v1/session", json={"token": TOKENS["admin"]}, headers=headers)
    assert r.status_code == 200, r.text
    cookie: str = r.headers["set-cookie"]
    assert cookie.startswith("receiptd_session="), cookie
    return cookie


def is_secure(cookie: str) -> bool:
    return "secure" in {part.strip().lower() for part in cookie.split(";")}


@pytest.fixture
def loopback(emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
             ) -> Callable[..., DaemonProcess]:
    """The daemon with a printer on the emulator; ``trusted`` goes to a config file."""
    emulator.start_tcp()

    def start(tmp: Path, trusted: list[str] | None = None) -> DaemonProcess:
        # uvicorn's own default would believe 127.0.0.1, or whatever this says: not here.
        env = {"FORWARDED_ALLOW_IPS": "*"}
        args: list[str] = []
        if trusted is not None:
            config = tmp / "receiptd.toml"
            entries = ", ".join(f'"{entry}"' for entry in trusted)
            config.write_text(f"[daemon]\ntrusted_proxies = [{entries}]\n")
            args = ["--config", str(config)]
        return daemon_factory({"front": emulator.tcp_url}, extra_args=args, extra_env=env)

    return start


@pytest.fixture
def plain_client() -> Iterator[Callable[[DaemonProcess], httpx.Client]]:
    made: list[httpx.Client] = []

    def make(daemon: DaemonProcess) -> httpx.Client:
        client = httpx.Client(base_url=daemon.url, timeout=30)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_by_default_a_new_forwarded_address_per_request_does_not_dodge_the_budget(
    loopback: Callable[..., DaemonProcess], plain_client: Callable[[DaemonProcess], httpx.Client],
    tmp_path: Path,
) -> None:
    daemon = loopback(tmp_path)
    stored_tokens_exist(daemon)
    client = plain_client(daemon)
    # A new address each time, a list of them, or none: all count for 127.0.0.1.
    unauthorized, refused = fail_until_refused(client, lambda n: (
        f"203.0.113.{n % 250 + 1}", f"198.51.100.{n % 250 + 1}, 203.0.113.{n % 250 + 1}",
        None)[n % 3])
    assert_budget_spent(unauthorized, refused)


def test_by_default_forwarded_https_from_loopback_is_not_believed(
    loopback: Callable[..., DaemonProcess], plain_client: Callable[[DaemonProcess], httpx.Client],
    tmp_path: Path,
) -> None:
    daemon = loopback(tmp_path)
    cookie = sign_in(plain_client(daemon), **{"X-Forwarded-Proto": "https"})
    assert not is_secure(cookie), cookie


def test_a_named_proxy_is_believed_for_the_client_and_for_https(
    loopback: Callable[..., DaemonProcess], plain_client: Callable[[DaemonProcess], httpx.Client],
    tmp_path: Path,
) -> None:
    daemon = loopback(tmp_path, trusted=["127.0.0.1", "::1"])
    stored_tokens_exist(daemon)
    proxy = plain_client(daemon)
    # The proxy forwards one client's wrong secrets until its budget is spent, whatever that
    # client writes into the header itself (a new address each time, on the left): the proxy
    # appends the address it saw, and the right-most address not a trusted proxy is the
    # client's (here 198.51.100.7, also behind a second proxy on 127.0.0.1).
    unauthorized, refused = fail_until_refused(proxy, lambda n: (
        "198.51.100.7", f"203.0.113.{n % 250 + 1}, 198.51.100.7",
        f"203.0.113.{n % 250 + 1}, 198.51.100.7, 127.0.0.1")[n % 3])
    assert_budget_spent(unauthorized, refused)
    # Another client through the same proxy has a budget of its own, and so has the proxy's
    # own address (a request it does not forward).
    for header in ({"X-Forwarded-For": "198.51.100.8"}, {}):
        r = proxy.get("/v1/receipts/1", headers={"Authorization": f"Bearer {wrong_secret()}",
                                                  **header})
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized"), r.text
    # The client's own secret still works through the proxy while its budget is spent.
    r = proxy.get("/v1/receipts/1", headers={"Authorization": f"Bearer {TOKENS['pos']}",
                                              "X-Forwarded-For": "198.51.100.7"})
    assert r.status_code in (200, 404), r.text
    # HTTPS said by the proxy is believed: the console's cookie is Secure; over plain HTTP
    # (the proxy says http, or nothing) it is not.
    assert is_secure(sign_in(proxy, **{"X-Forwarded-Proto": "https"}))
    assert not is_secure(sign_in(proxy, **{"X-Forwarded-Proto": "http"}))
    assert not is_secure(sign_in(proxy))


def test_a_connection_from_an_address_not_named_is_not_believed(
    loopback: Callable[..., DaemonProcess], tmp_path: Path,
) -> None:
    """127.0.0.1 named: a client on 127.0.0.2 (loopback has a whole /8) is no proxy."""
    daemon = loopback(tmp_path, trusted=["127.0.0.1"])
    stored_tokens_exist(daemon)
    with httpx.Client(base_url=daemon.url, timeout=30,
                      transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        unauthorized, refused = fail_until_refused(other, lambda n: f"203.0.113.{n % 250 + 1}")
        assert_budget_spent(unauthorized, refused)
        assert not is_secure(sign_in(other, **{"X-Forwarded-Proto": "https"}))


@pytest.mark.parametrize(("entry", "says"), [
    ("*", "expected an IP address"),
    ("proxy.local", "expected an IP address"),
    ("10.0.0.5/24", "host bits set: write the network as 10.0.0.0/24"),
    ("10.0.0.0/33", "expected an IP address"),
])
def test_a_bad_trusted_proxy_stops_the_start_with_a_clear_message(
    tmp_path: Path, entry: str, says: str
) -> None:
    config = tmp_path / "receiptd.toml"
    config.write_text(f'[daemon]\ntrusted_proxies = ["127.0.0.1", "{entry}"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "receiptd.cli.daemon", "run", "--config", str(config),
         "--journal", str(tmp_path / "journal.db"), "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 78, (done.returncode, done.stderr)  # EX_CONFIG
    assert "daemon.trusted_proxies" in done.stderr, done.stderr
    assert f"trusted proxy {entry!r}" in done.stderr, done.stderr
    assert says in done.stderr, done.stderr
    assert not (tmp_path / "journal.db").exists()


def per_address_limit(daemon: DaemonProcess) -> int:
    """The per-address connection limit the daemon sized at start (its log says)."""
    for line in daemon.log().splitlines():
        if '"connection_limits"' in line:
            return int(json.loads(line)["per_address"])
    raise AssertionError(f"no connection_limits line:\n{daemon.log()}")


def half_requests(daemon: DaemonProcess, n: int) -> list[socket.socket]:
    """``n`` connections from 127.0.0.1, each stopped in the middle of its headers."""
    out = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
        sock.sendall(b"GET /v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        out.append(sock)
    return out


@pytest.mark.parametrize("named", [False, True], ids=["default", "named_proxy"])
def test_a_named_proxy_is_held_to_the_total_not_to_one_clients_share(
    loopback: Callable[..., DaemonProcess], tmp_path: Path, named: bool,
) -> None:
    """Behind a proxy every client shares its address: one client's share of connections
    would throttle them all. A named proxy is held only to the total."""
    daemon = loopback(tmp_path, ["127.0.0.1"] if named else None)
    share = per_address_limit(daemon)
    socks = half_requests(daemon, share + 4)
    try:
        # The newest one finishes its request: once it is answered, the daemon has admitted
        # every connection before it (well within the 10 s head timeout).
        socks[-1].sendall(b"\r\n")
        assert socks[-1].recv(65536).startswith(b"HTTP/1.1 401")
        closed = [closed_by_peer(s) for s in socks[:-1]] + [False]
        if named:
            assert not any(closed), closed.count(True)
        else:  # one address over its share: the oldest half-sent requests make room
            assert closed[:4] == [True] * 4 and not any(closed[4:]), closed
    finally:
        for sock in socks:
            sock.close()

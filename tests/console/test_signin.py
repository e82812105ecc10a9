"""Sign-in, the session cookie and CSRF, as an attacker would try them: with httpx against
the real daemon, and in a real browser from a page of another origin on the same machine
(the case SameSite cookies do not cover: another port of the same host is the same site)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document
from .browser import chromium, sign_in, wait

pytestmark = pytest.mark.timeout(180)


def session(url: str, secret: str) -> tuple[httpx.Client, str]:
    """A client holding a console session cookie (no bearer header), and its CSRF token."""
    client = httpx.Client(base_url=url, timeout=10)
    r = client.post("/v1/session", json={"token": secret})
    assert r.status_code == 200, r.text
    return client, r.json()["csrf_token"]


def prints(daemon: DaemonProcess, receipt_id: int) -> int:
    return len(daemon.receipt(receipt_id)["prints"])


def test_the_cookie_is_httponly_strict_and_every_cookie_write_needs_its_csrf_token(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    rid = daemon.submit({"document": sample_document("CSRF")})["id"]
    daemon.wait_printed(rid)

    r = httpx.post(f"{daemon.url}/v1/session", json={"token": "wrong"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert "set-cookie" not in r.headers

    r = httpx.post(f"{daemon.url}/v1/session", json={"token": TOKENS["cashier"]}, timeout=10)
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "receiptd_session=" in cookie and "httponly" in cookie
    assert "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert TOKENS["cashier"] not in r.headers["set-cookie"]
    assert r.json()["name"] == "cashier" and r.json()["role"] == "cashier"
    # A client's word that it came through TLS counts only from a proxy the admin named
    # (``trusted_proxies``, tests/api/test_trusted_proxy.py): none here.
    r = httpx.post(f"{daemon.url}/v1/session", json={"token": TOKENS["cashier"]}, timeout=10,
                   headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 200 and "secure" not in r.headers["set-cookie"].lower()

    cashier, csrf = session(daemon.url, TOKENS["cashier"])
    _, other_csrf = session(daemon.url, TOKENS["cashier"])
    # Signing in again from the same browser replaces its session: the old cookie is dead.
    again, _ = session(daemon.url, TOKENS["cashier"])
    first = again.cookies["receiptd_session"]
    assert again.post("/v1/session", json={"token": TOKENS["cashier"]}).status_code == 200
    assert again.cookies["receiptd_session"] != first
    r = httpx.get(f"{daemon.url}/v1/session", cookies={"receiptd_session": first}, timeout=10)
    assert r.status_code == 401
    assert cashier.get("/v1/session").json()["csrf_token"] == csrf
    assert cashier.get(f"/v1/receipts/{rid}").status_code == 200  # reads need no CSRF token
    reprint = f"/v1/receipts/{rid}/reprint"
    before = prints(daemon, rid)
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "guess"},
                    {"X-CSRF-Token": other_csrf}):  # another session's token is no proof
        r = cashier.post(reprint, json={"reason": "forged"}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text
    # With the right token but sent by a page of another site: the browser guard refuses it.
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}):
        r = cashier.post(reprint, json={}, headers={"X-CSRF-Token": csrf, **headers})
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
    assert prints(daemon, rid) == before, "nothing refused was queued"
    r = cashier.post(reprint, json={"reason": "console"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202 and r.json()["print"]["requested_by"].startswith("cashier")
    # A bearer request needs no CSRF token: no other site can attach a bearer header.
    assert daemon.clients["cashier"].post(reprint, json={}).status_code == 202
    # The role is the token's: the cashier's session is not admin.
    r = cashier.post("/v1/printers/front/recover", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"

    # Sign-out is a write too; afterwards the cookie is worth nothing, even resent by hand.
    assert cashier.post("/v1/session/sign-out").status_code == 403
    sid = cashier.cookies["receiptd_session"]
    r = cashier.post("/v1/session/sign-out", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204 and "receiptd_session=" in r.headers["set-cookie"]
    r = httpx.get(f"{daemon.url}/v1/receipts/{rid}", cookies={"receiptd_session": sid})
    assert r.status_code == 401
    r = httpx.get(f"{daemon.url}/v1/receipts/{rid}", cookies={"receiptd_session": "forged"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_revoking_a_token_ends_its_browser_sessions_at_once(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    admin = daemon.clients["admin"]
    secret = admin.post("/v1/tokens", json={"name": "anna", "role": "cashier"}).json()["secret"]
    anna, _ = session(daemon.url, secret)
    assert anna.get("/v1/console/till").status_code == 200
    assert admin.post("/v1/tokens/anna/revoke").status_code == 200
    r = anna.get("/v1/console/till")
    assert r.status_code == 401, r.text
    assert httpx.post(f"{daemon.url}/v1/session", json={"token": secret}).status_code == 401
    # A scraper's token opens no console.
    scraper = admin.post("/v1/tokens", json={"name": "prom", "role": "metrics"}).json()["secret"]
    r = httpx.post(f"{daemon.url}/v1/session", json={"token": scraper})
    assert r.status_code == 403 and "set-cookie" not in r.headers, r.text


class _Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[tuple[str, type[_Attacker]]]:
    """A web page on another port of this host: another origin, but the same site."""
    handler = type("Page", (_Attacker,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("allowed", [False, True], ids=["foreign-origin", "cors-origin"])
def test_a_page_of_another_origin_cannot_reprint_with_the_signed_in_cookie(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path,
    attacker: tuple[str, type[_Attacker]], allowed: bool,
) -> None:
    """The browser sends the SameSite=Strict cookie with a form posted from another port of
    the same host. Not listed in ``cors_origins``, the browser guard refuses it; listed (a
    POS web app of the shop's own), it passes the guard and the CSRF token stops it."""
    origin, page = attacker
    emulator.start_tcp()
    config = tmp_path / "cors.toml"
    config.write_text(f'[daemon]\ncors_origins = ["{origin}"]\n' if allowed else "")
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--config", str(config)])
    rid = daemon.submit({"document": sample_document("VICTIM")})["id"]
    daemon.wait_printed(rid)
    page.page = (f'<form id="f" method="post" action="{daemon.url}/v1/receipts/{rid}/reprint">'
                 '<input name="reason" value="x"></form>'
                 "<script>document.getElementById('f').submit()</script>").encode()
    browser = chromium()
    try:
        sign_in(browser, daemon.url, TOKENS["cashier"])
        browser.get(origin + "/")
        expected = "csrf_failed" if allowed else "cross_site_request"
        wait(browser, lambda d: expected in d.page_source, f"the daemon's {expected}")
        assert prints(daemon, rid) == 1, "no copy was queued"
        # The signed-in console itself still works.
        browser.get(daemon.url + "/")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#receipts li[data-id="{rid}"]'),
             "the console, still signed in")
    finally:
        browser.quit()


def test_a_daemon_restart_signs_the_browser_out_and_the_page_says_so(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    """Sessions live in memory: after a restart the page, told by its event stream, asks for
    the token again instead of going quietly stale."""
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    browser = chromium()
    try:
        sign_in(browser, daemon.url, TOKENS["cashier"])
        wait(browser, lambda d: d.find_element(By.ID, "all-ok"), "the cashier's page")
        daemon.restart()
        wait(browser, lambda d: d.find_element(By.ID, "token").is_displayed(), "signed out")
        assert "sign in again" in browser.find_element(By.ID, "sign-in-error").text
        sign_in(browser, daemon.url, TOKENS["cashier"])
        wait(browser, lambda d: d.find_element(By.ID, "all-ok"), "signed in again")
    finally:
        browser.quit()


class OpenDaemon(DaemonProcess):
    """The daemon with no token at all: the API, and so the console, open to every caller."""

    def args(self) -> list[str]:
        args = super().args()
        while "--token" in args:
            i = args.index("--token")
            del args[i:i + 2]
        return args


def test_with_no_token_at_all_the_console_needs_no_sign_in_and_the_guard_still_holds(
    emulator: Emulator, tmp_path: Path,
) -> None:
    emulator.start_tcp()
    daemon = OpenDaemon(tmp_path, {"front": emulator.tcp_url})
    browser = chromium()
    try:
        daemon.start()
        r = httpx.get(f"{daemon.url}/v1/session", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"name": "anonymous", "role": "admin", "csrf_token": None,
                            "expires_at": None}
        # Nothing to sign in with, and no session that would outlive the open mode as admin
        # once the first token is made.
        r = httpx.post(f"{daemon.url}/v1/session", json={"token": "anything"}, timeout=10)
        assert r.status_code == 409 and r.json()["error"]["code"] == "no_tokens"
        assert "set-cookie" not in r.headers
        browser.get(daemon.url + "/")
        wait(browser, lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#nav a")]
             == ["Receipts", "Printers", "Tokens", "Journal"], "the admin's pages, no sign-in")
        # Open means every page of another site could write: the browser guard refuses it.
        r = httpx.post(f"{daemon.url}/v1/printers/front/recover", timeout=10,
                       headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
        r = httpx.get(f"{daemon.url}/v1/session", timeout=10,
                      headers={"Host": f"evil.example:{daemon.port}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "host_not_allowed"
    finally:
        browser.quit()
        daemon.close()

"""Access control end to end, against the real daemon: tokens (configured and stored, hashed),
every endpoint × every role from the OpenAPI document, the Unix socket, loopback, CORS."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiptd.config import Config
from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document

pytestmark = pytest.mark.timeout(180)

ROLES = ("pos", "cashier", "admin")
RANK = {"none": 0, "pos": 1, "cashier": 2, "admin": 3}
# ``metrics`` stands outside the ranks: a scraper's token reads /metrics and nothing else.
METRICS_RANK = -1
# The public contract (docs/DESIGN.md): these routes keep these roles.
CONTRACT = {
    ("post", "/v1/printers/{printer}/receipts"): "pos",
    ("get", "/v1/receipts/{receipt_id}"): "pos",
    ("get", "/v1/receipts"): "cashier",
    ("post", "/v1/receipts/{receipt_id}/reprint"): "cashier",
    ("post", "/v1/printers/{printer}/reprint-last"): "cashier",
    ("post", "/v1/receipts/{receipt_id}/cancel"): "admin",
    ("get", "/v1/printers"): "pos",  # each role sees its own view of a printer
    ("get", "/v1/printers/{printer}"): "pos",
    ("get", "/v1/held"): "cashier",
    ("get", "/v1/receipts/{receipt_id}/preview"): "pos",  # a pos token: its own receipts
    ("get", "/v1/events"): "pos",
    ("get", "/metrics"): "metrics",
    ("get", "/healthz"): "none",
    ("post", "/v1/tokens"): "admin",
    ("get", "/v1/tokens"): "admin",
    ("post", "/v1/tokens/{name}/revoke"): "admin",
    # The web console: sign-in takes a token in its body; the rest needs the session (or a
    # bearer token) like any route.
    ("post", "/v1/session"): "none",
    ("get", "/v1/session"): "pos",
    ("post", "/v1/session/sign-out"): "pos",
    ("get", "/v1/console/till"): "cashier",
    ("get", "/v1/console/receipts"): "cashier",
}
# The only operations anyone may call without a token (sign-in: the token is in the body).
PUBLIC = {("get", "/healthz"), ("post", "/v1/session")}
#: The console's files and the API docs: public, since they hold no data (the page reads all
#: of it from the API with the session). Not in the OpenAPI document, so listed here.
PAGES = ["/", "/console/index.html", "/console/console.js", "/console/console.css",
         "/console/icon.svg", "/v1/docs", "/v1/docs/swagger-ui-bundle.js",
         "/v1/docs/swagger-ui.css"]


def ctl(daemon: DaemonProcess, *args: str, token: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECEIPTD_URL": daemon.url}
    if token:
        env["RECEIPTD_TOKEN"] = token
    r = subprocess.run([sys.executable, "-m", "receiptd.cli.ctl", *args], env=env,
                       capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_stored_tokens_hashed_named_on_receipts_and_revocable(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    admin = TOKENS["admin"]

    out = ctl(daemon, "token", "add", "till-7", "--role", "pos", token=admin).stdout
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("rct_") and len(secret) > 40
    cashier = json.loads(ctl(daemon, "token", "add", "anna", "--role", "cashier", "--json",
                             token=admin).stdout)["secret"]
    # Only an admin manages tokens; a pos token is refused, a duplicate name is a conflict.
    r = ctl(daemon, "token", "add", "x", "--role", "admin", token=secret, check=False)
    assert r.returncode == 1 and "forbidden" in r.stderr
    r = ctl(daemon, "token", "add", "till-7", "--role", "pos", token=admin, check=False)
    assert "token_exists" in r.stderr
    r = ctl(daemon, "token", "add", "admin", "--role", "pos", token=admin, check=False)
    assert "token_exists" in r.stderr, "a stored token may not shadow a configured one"

    listing = ctl(daemon, "token", "list", "--json", token=admin).stdout
    assert secret not in listing and cashier not in listing
    names = {(t["name"], t["source"]) for t in json.loads(listing)["tokens"]}
    assert {("till-7", "journal"), ("anna", "journal"), ("admin", "config")} <= names

    # The token name is recorded on the receipt it submits and on the reprint it asks for.
    tag = "BYTOKEN"
    r = httpx.post(f"{daemon.url}/v1/printers/front/receipts", headers=bearer(secret),
                   json={"document": sample_document(tag)}, timeout=10)
    assert r.status_code == 202, r.text
    receipt = r.json()
    assert receipt["submitted_by"] == "till-7"
    daemon.wait_printed(receipt["id"])
    for _ in range(3):  # the second and third are served from the verified-token cache
        r = httpx.post(f"{daemon.url}/v1/receipts/{receipt['id']}/reprint",
                       headers=bearer(cashier), json={"reason": "lost"}, timeout=10)
        assert r.status_code == 202, r.text
        assert r.json()["print"]["requested_by"].startswith("anna")
    r = httpx.get(f"{daemon.url}/v1/receipts", headers=bearer(secret), timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"

    # Stored as a salted hash: the secret is nowhere in the journal's bytes.
    daemon.terminate()
    for f in daemon.tmp.glob("journal.db*"):
        assert secret.encode() not in f.read_bytes(), f
        assert secret.split("_", 2)[2].encode() not in f.read_bytes(), f  # the random part
    with sqlite3.connect(daemon.journal) as db:
        rows = db.execute("SELECT name, role, kdf, length(salt), length(hash) FROM api_tokens "
                          "ORDER BY id").fetchall()
    assert rows == [("till-7", "pos", "scrypt:n=16384,r=8,p=1", 16, 32),
                    ("anna", "cashier", "scrypt:n=16384,r=8,p=1", 16, 32)]
    daemon.start()  # stored tokens survive a restart; config tokens keep working too
    r = httpx.get(f"{daemon.url}/v1/receipts/{receipt['id']}", headers=bearer(secret),
                  timeout=10)
    assert r.status_code == 200
    assert daemon.clients["pos"].get(f"/v1/receipts/{receipt['id']}").status_code == 200

    out = ctl(daemon, "token", "revoke", "till-7", token=admin).stdout
    assert "revoked" in out
    r = httpx.get(f"{daemon.url}/v1/receipts/{receipt['id']}", headers=bearer(secret),
                  timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = ctl(daemon, "token", "revoke", "admin", token=admin, check=False)
    assert "token_configured" in r.stderr
    r = ctl(daemon, "token", "revoke", "till-7", token=admin, check=False)
    assert "unknown_token" in r.stderr
    everything = json.loads(ctl(daemon, "token", "list", "--all", "--json",
                                token=admin).stdout)["tokens"]
    revoked = [t for t in everything if t["name"] == "till-7"]
    assert revoked[0]["revoked_by"] == "admin" and revoked[0]["revoked_at"]
    # Forged tokens with a real key id but a wrong secret are refused.
    key_id = secret.split("_")[1]
    r = httpx.get(f"{daemon.url}/v1/receipts/1", headers=bearer(f"rct_{key_id}_forged"),
                  timeout=10)
    assert r.status_code == 401


def test_open_api_bootstraps_the_first_token_and_never_reopens(
    emulator: Emulator, tmp_path: Path
) -> None:
    """No token configured: the API is open until the first token is made; the last stored
    token cannot be revoked (that would open it again)."""
    emulator.start_tcp()
    daemon = NoTokenDaemon(tmp_path, {"front": emulator.tcp_url})
    try:
        daemon.start()
        r = httpx.post(f"{daemon.url}/v1/tokens", json={"name": "boss", "role": "admin"},
                       timeout=10)
        assert r.status_code == 201, r.text
        boss = r.json()["secret"]
        assert httpx.get(f"{daemon.url}/v1/tokens", timeout=10).status_code == 401
        assert httpx.get(f"{daemon.url}/v1/tokens", headers=bearer(boss),
                         timeout=10).status_code == 200
        r = httpx.post(f"{daemon.url}/v1/tokens/boss/revoke", headers=bearer(boss), timeout=10)
        assert r.status_code == 409 and r.json()["error"]["code"] == "last_token"
        daemon.restart()
        assert httpx.get(f"{daemon.url}/v1/printers", timeout=10).status_code == 401
    finally:
        daemon.close()


class NoTokenDaemon(DaemonProcess):
    def args(self) -> list[str]:
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run", "--journal",
                str(self.journal), "--listen", f"127.0.0.1:{self.port}", "--log-format", "json"]
        for name, url in self.printers.items():
            args += ["--printer", f"{name}={url}"]
        return args + self.extra_args


# -- the whole role × endpoint matrix ---------------------------------------------------------


def _fill(path: str, params: dict[str, Any]) -> str:
    for key, value in params.items():
        path = path.replace("{" + key + "}", str(value))
    assert "{" not in path, f"no test value for a path parameter of {path}"
    return path


def test_every_endpoint_enforces_its_role(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    receipt = daemon.submit({"document": sample_document("MATRIX"), "order_ref": "M-1"})
    daemon.wait_printed(receipt["id"])
    admin = httpx.Client(base_url=daemon.url, headers=bearer(TOKENS["admin"]), timeout=10)
    stored = {role: admin.post("/v1/tokens", json={"name": f"stored-{role}", "role": role})
              .json()["secret"] for role in ROLES}
    revoked = admin.post("/v1/tokens", json={"name": "gone", "role": "admin"}).json()["secret"]
    assert admin.post("/v1/tokens/gone/revoke").status_code == 200

    spec = httpx.get(f"{daemon.url}/v1/openapi.json", timeout=10).json()
    operations = [(method, path, op) for path, item in spec["paths"].items()
                  for method, op in item.items() if method in ("get", "post", "put", "patch",
                                                                "delete")]
    declared = {(m, p): op.get("x-required-role") for m, p, op in operations}
    assert all(r in RANK or r == "metrics" for r in declared.values()), declared
    assert {k for k, r in declared.items() if r == "none"} == PUBLIC
    for key, role in CONTRACT.items():
        assert declared.get(key) == role, (key, declared.get(key))

    callers: list[tuple[str, int, dict[str, str]]] = [
        ("no token", 0, {}),
        ("not bearer", 0, {"Authorization": f"Basic {TOKENS['admin']}"}),
        ("unknown token", 0, bearer("not-a-token-at-all")),
        ("revoked stored token", 0, bearer(revoked)),
        *((f"configured {r}", RANK[r], bearer(TOKENS[r])) for r in ROLES),
        *((f"stored {r}", RANK[r], bearer(stored[r])) for r in ROLES),
        ("stored metrics", METRICS_RANK, bearer(admin.post(
            "/v1/tokens", json={"name": "scraper", "role": "metrics"}).json()["secret"])),
        # A browser signed in to the console: the session cookie (and its CSRF token on
        # writes) is the token's caller on every route.
        *((f"session {r}", RANK[r], console_session(daemon.url, TOKENS[r])) for r in ROLES),
        (NO_CSRF, RANK["admin"], console_session(daemon.url, TOKENS["admin"], csrf=False)),
    ]
    params = {"printer": "front", "receipt_id": receipt["id"], "order_ref": "M-1",
              "name": "victim", "id": receipt["id"]}
    checked = 0
    for method, path, _op in operations:
        role = declared[(method, path)]
        for label, rank, headers in callers:
            # The metrics role: /metrics (with admin) and nothing else but the public routes.
            if role == "none":
                need = METRICS_RANK  # anyone
            elif role == "metrics":
                need = METRICS_RANK if rank == METRICS_RANK else RANK["admin"]
            else:
                need = RANK["admin"] + 1 if rank == METRICS_RANK else RANK[role]
            if path == "/v1/tokens/{name}/revoke":  # something to revoke, every time
                admin.post("/v1/tokens", json={"name": "victim", "role": "pos"})
            url = _fill(path, params)
            # Each request from its own loopback address: the failed ones would otherwise
            # spend one address's budget of failed authentications (429 too_many_failures).
            address = f"127.1.{checked // 250}.{checked % 250 + 1}"
            with httpx.Client(transport=httpx.HTTPTransport(local_address=address)) as client, \
                    client.stream(method.upper(), f"{daemon.url}{url}", headers=headers,
                                  timeout=10) as r:
                status = r.status_code
                body = r.read() if status != 200 or method != "get" or "events" not in url \
                    else b""
            what = f"{method.upper()} {path} as {label}: {status} {body[:200]!r}"
            assert status < 500, what
            if label.startswith("session") and path == "/v1/session/sign-out":
                headers.update(console_session(  # signed out: sign in again for the next
                    daemon.url, TOKENS[label.split()[1].rstrip(",")], csrf=label != NO_CSRF))
            if label.startswith("session") and role == "metrics":
                # /metrics is for a scraper's bearer token: a browser session is not one.
                assert status == 401, what
            elif label == NO_CSRF and method != "get" and role != "none":
                assert status == 403, what  # the cookie alone never writes
                assert json.loads(body)["error"]["code"] == "csrf_failed", what
            elif label == "stored pos" and path.endswith("/preview"):
                # Not the till that submitted it: the pos role, but not its receipt.
                assert status == 403, what
                assert json.loads(body)["error"]["code"] == "not_your_receipt", what
            elif rank >= need:
                assert status not in (401, 403), what
            else:
                expected = 401 if rank == 0 else 403
                assert status == expected, what
                code = json.loads(body)["error"]["code"]
                assert code == ("unauthorized" if rank == 0 else "forbidden"), what
            checked += 1
    assert checked == len(operations) * len(callers)
    print(f"role matrix: {len(operations)} operations x {len(callers)} callers")


NO_CSRF = "session admin, no CSRF token"


def console_session(url: str, secret: str, csrf: bool = True) -> dict[str, str]:
    """The headers a browser signed in with ``secret`` sends: the cookie, the CSRF token."""
    r = httpx.post(f"{url}/v1/session", json={"token": secret}, timeout=10)
    assert r.status_code == 200, r.text
    headers = {"Cookie": f"receiptd_session={r.cookies['receiptd_session']}"}
    return {**headers, "X-CSRF-Token": r.json()["csrf_token"]} if csrf else headers


def test_the_console_pages_are_public_hold_no_data_and_refuse_framing(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.submit({"document": sample_document("SECRET-LINE"), "order_ref": "HIDDEN-REF"})
    for path in PAGES:
        r = httpx.get(f"{daemon.url}{path}", timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        assert b"HIDDEN-REF" not in r.content and b"SECRET-LINE" not in r.content, path
        if path == "/" or path.startswith("/console/"):
            assert r.headers["x-frame-options"] == "DENY", path
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
    # Only the files listed are served: no path from the URL reaches the file system.
    for path in ("/console/__init__.py", "/console/..%2f..%2fapi%2fauth.py",
                 "/console/static", "/v1/docs/index.html", "/v1/docs/oauth2-redirect",
                 "/docs/oauth2-redirect"):
        assert httpx.get(f"{daemon.url}{path}", timeout=10).status_code == 404, path


# -- where it listens ---------------------------------------------------------------------------


def test_unix_socket_is_owner_and_group_only_and_still_needs_a_token(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    emulator.start_tcp()
    sock = tmp_path / "run" / "receiptd.sock"
    daemon_factory({"front": emulator.tcp_url}, extra_args=["--unix-socket", str(sock)])
    mode = sock.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660, oct(stat.S_IMODE(mode))
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o750
    transport = httpx.HTTPTransport(uds=str(sock))
    with httpx.Client(transport=transport, base_url="http://receiptd", timeout=10) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/v1/printers").status_code == 401
        r = c.get("/v1/printers", headers=bearer(TOKENS["admin"]))
        assert r.status_code == 200


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                addr, port_hex = fields[1].split(":")
                if int(port_hex, 16) == port and fields[3] == "0A":
                    found.append(addr)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_tcp_listens_on_loopback_unless_configured(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    assert Config().daemon.listen is not None
    assert Config().daemon.listen.startswith("127.0.0.1:")
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    # A listen address without a host binds loopback, not every interface.
    daemon.terminate()
    daemon.extra_args = ["--listen", f":{daemon.port}"]
    daemon.start()
    assert _listening(daemon.port) == ["0100007F"]


def test_cors_only_for_configured_origins(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    emulator.start_tcp()
    config = tmp_path / "receiptd.toml"
    config.write_text('[daemon]\ncors_origins = ["https://till.example"]\n')
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--config", str(config)])
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    url = f"{daemon.url}/v1/printers/front/receipts"
    ok = httpx.options(url, headers={"Origin": "https://till.example", **preflight}, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://till.example"
    assert "POST" in ok.headers["access-control-allow-methods"]
    bad = httpx.options(url, headers={"Origin": "https://evil.example", **preflight},
                        timeout=10)
    assert bad.status_code == 400
    assert "access-control-allow-origin" not in bad.headers
    r = httpx.get(f"{daemon.url}/healthz", headers={"Origin": "https://evil.example"},
                  timeout=10)
    assert "access-control-allow-origin" not in r.headers
    # Without cors_origins no origin is allowed at all.
    daemon.terminate()
    daemon.extra_args = []
    daemon.start()
    r = httpx.options(url, headers={"Origin": "https://till.example", **preflight}, timeout=10)
    assert "access-control-allow-origin" not in r.headers
    assert r.status_code in (401, 404, 405)

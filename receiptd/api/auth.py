"""Who is calling: bearer tokens with a name and a role (``pos < cashier < admin``).

Two sources, checked in this order:

* **configured** tokens (``[[tokens]]`` in the config file, ``--token`` on the command line):
  the bootstrap. Only their SHA-256 digests are kept in memory, compared in constant time.
* **stored** tokens, made with ``receiptctl token add`` (``POST /v1/tokens``) and kept in the
  journal's ``api_tokens`` table as a salted scrypt hash. The secret is shown once, at creation.
  A stored token reads ``rct_<key id>_<secret>``: the public key id finds its row, so a request
  costs at most one scrypt — and a verified token is cached in memory (by the SHA-256 of the
  secret, never the secret itself) for ``CACHE_TTL_S``, so authentication stays fast.
  Revoking through the API drops the cache entry at once.

With no configured token and no stored token the API is open (every caller is ``admin``):
that is how the first token is made on a fresh box. For that reason the last stored token
cannot be revoked while no token is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from receiptd.config import TokenConfig
from receiptd.errors import Conflict, Unauthorized
from receiptd.journal import ApiToken, Journal

ROLE_RANK = {"pos": 1, "cashier": 2, "admin": 3}
TOKEN_PREFIX = "rct"
TOKEN_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
#: scrypt cost: ~16 MiB and a few tens of ms per verification; cached afterwards.
KDF = "scrypt:n=16384,r=8,p=1"
CACHE_TTL_S = 300.0
CACHE_MAX = 4096
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Identity:
    name: str
    role: str


ANONYMOUS = Identity("anonymous", "admin")


def hash_secret(secret: str, salt: bytes, kdf: str = KDF) -> bytes:
    name, _, params = kdf.partition(":")
    if name != "scrypt":
        raise ValueError(f"unknown token kdf {kdf!r}")
    p = {k: int(v) for k, v in (item.split("=") for item in params.split(","))}
    return hashlib.scrypt(secret.encode(), salt=salt, n=p["n"], r=p["r"], p=p["p"],
                          maxmem=64 * 1024 * 1024, dklen=32)


def new_token() -> tuple[str, str]:
    """(key id, the whole secret the client sends)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(secret: str) -> str | None:
    prefix, _, rest = secret.partition("_")
    key_id, sep, body = rest.partition("_")
    if prefix != TOKEN_PREFIX or not sep or not body or not _KEY_ID.match(key_id):
        return None
    return key_id


def bearer(header: str) -> str:
    """The secret of an ``Authorization: Bearer …`` header; ``Unauthorized`` if absent."""
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("missing bearer token")
    if len(secret) > 512:
        raise Unauthorized("unknown token")
    return secret


class Authenticator:
    """Maps a bearer secret to an ``Identity``. Thread-safe; one per app."""

    def __init__(self, configured: Sequence[TokenConfig], journal: Callable[[], Journal],
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self._configured = [(hashlib.sha256(t.secret.encode()).digest(), Identity(t.name, t.role))
                            for t in configured]
        self.configured_names = {t.name: t.role for t in configured}
        self._journal = journal
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[bytes, tuple[Identity, str, float]] = {}
        self._stored_active: int | None = None

    # -- the request path ---------------------------------------------------------------------

    def fast(self, header: str) -> Identity | str:
        """Decide in memory if possible: an ``Identity``, or the secret still to be checked
        against the journal with ``slow`` (blocking: run it off the event loop)."""
        if not self._configured and self._stored_active == 0:
            return ANONYMOUS
        secret = bearer(header)
        digest = hashlib.sha256(secret.encode()).digest()
        found: Identity | None = None
        for expected, ident in self._configured:  # every one: no early exit to time
            if hmac.compare_digest(digest, expected):
                found = ident
        if found is not None:
            return found
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[2] > self._clock():
                return hit[0]
        if self._stored_active is None:
            return secret  # not counted yet: slow() counts
        if key_id_of(secret) is None or self._stored_active == 0:
            raise Unauthorized("unknown token")
        return secret

    def slow(self, secret: str) -> Identity:
        if self._stored_active is None:
            self.refresh()
            if not self._configured and self._stored_active == 0:
                return ANONYMOUS
        key_id = key_id_of(secret)
        row = self._journal().tokens.by_key(key_id) if key_id else None
        if row is None or not hmac.compare_digest(hash_secret(secret, row.salt, row.kdf),
                                                  row.digest):
            raise Unauthorized("unknown token")
        ident = Identity(row.name, row.role)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[hashlib.sha256(secret.encode()).digest()] = (
                ident, row.key_id, self._clock() + CACHE_TTL_S)
        return ident

    def refresh(self) -> None:
        """Recount the stored tokens (after a change; blocking)."""
        count = len(self._journal().tokens.list())
        with self._lock:
            self._stored_active = count

    # -- management ---------------------------------------------------------------------------

    def journal(self) -> Journal:
        return self._journal()

    def add(self, name: str, role: str, *, by: str) -> tuple[ApiToken, str]:
        """Store a new token; returns it and its secret (the only time it exists in clear)."""
        if name in self.configured_names:
            raise Conflict(f"a configured token is named {name!r}", code="token_exists")
        key_id, secret = new_token()
        salt = secrets.token_bytes(16)
        row = self._journal().tokens.add(key_id=key_id, name=name, role=role, kdf=KDF, salt=salt,
                                         digest=hash_secret(secret, salt), created_by=by)
        self.refresh()
        return row, secret

    def revoke(self, name: str, *, by: str) -> ApiToken:
        if name in self.configured_names:
            raise Conflict(f"token {name!r} is configured (config file or --token): remove it "
                           "there", code="token_configured")
        journal = self._journal()
        active = journal.tokens.list()
        if not self._configured and len(active) == 1 and active[0].name == name:
            raise Conflict("this is the last token and none is configured: revoking it would "
                           "open the API to everyone; add another admin token first",
                           code="last_token")
        row = journal.tokens.revoke(name, by=by)
        with self._lock:
            for digest in [d for d, (_, k, _) in self._cache.items() if k == row.key_id]:
                del self._cache[digest]
        self.refresh()
        return row

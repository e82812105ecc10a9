"""Who is calling: bearer tokens with a name and a role (``pos < cashier < admin``).

Two sources, checked in this order:

* **configured** tokens (``[[tokens]]`` in the config file, ``--token`` on the command line):
  the bootstrap. Only their SHA-256 digests are kept in memory, compared in constant time.
* **stored** tokens, made with ``receiptctl token add`` (``POST /v1/tokens``) and kept in the
  journal's ``api_tokens`` table as a salted scrypt hash. The secret is shown once, at creation.
  A stored token reads ``rct_<key id>_<secret>``: the public key id finds its row, so a request
  costs at most one scrypt — and a verified token is cached in memory (by the SHA-256 of the
  secret, never the secret itself) for ``CACHE_TTL_S``, so authentication stays fast.
  Revoking through the API drops the cache entry at once, and a check that was still hashing
  when the revocation landed looks at the journal again before it caches anything.

A wrong secret costs the same whether its key id exists or not (an unknown key id is hashed
against a stand-in), so the time of an answer does not tell which key ids exist. Failures are
counted per client address and per key id (``receiptd.api.throttle``): past the budget the
answer is 429 ``too_many_failures`` without hashing, and at most ``HASHES_AT_ONCE`` hashes run
at a time (``hash_limiter``), so a flood of wrong secrets neither eats the CPU nor the memory
that receipts need.

A browser signs in once with a token and then sends a session cookie instead
(``receiptd.api.sessions``); revoking the token ends its sessions too.

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

import anyio

from receiptd.api.sessions import SessionStore
from receiptd.api.throttle import AuthBusy, FailureBudget, TooManyFailures
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
#: scrypt hashes computed at once (each ~16 MiB and a core for tens of ms), and how many more
#: checks may wait for one, in all and from one address, before the answer is 503
#: ``auth_busy``.
HASHES_AT_ONCE = 1
HASHES_WAITING = 32
HASHES_WAITING_PER_CLIENT = 4
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
        # Revocations so far: a check that hashed while one landed must look again.
        self._revocations = 0
        # Digests of secrets that passed once (→ key id): never held up by a key id's budget.
        self._proven: dict[bytes, str] = {}
        self.clients = FailureBudget(clock=clock)
        self.key_ids = FailureBudget(clock=clock)
        self.hash_limiter = anyio.CapacityLimiter(HASHES_AT_ONCE)
        self.hashes_waiting = 0  # these two are touched on the event loop only
        self._waiting: dict[str, int] = {}
        # An unknown key id is hashed against this stand-in, the same work as a known one.
        # Its digest is random bytes, which no secret is known to hash to (and ``slow``
        # fails an unknown key id regardless), so making it costs no scrypt: 16 MiB less
        # at the daemon's start.
        self._stand_in = (secrets.token_bytes(16), secrets.token_bytes(32))
        # The console's browser sessions: each stands for a token, so a revocation ends them.
        self.sessions = SessionStore(clock=clock)

    @property
    def open(self) -> bool:
        """No token at all (or not counted yet): every caller is ``admin``."""
        return not self._configured and self._stored_active in (0, None)

    # -- the request path ---------------------------------------------------------------------

    def fast(self, header: str, client: str = "") -> Identity | str:
        """Decide in memory if possible: an ``Identity``, or the secret still to be checked
        against the journal with ``slow`` (blocking: run it off the event loop, under
        ``hash_limiter``). ``client`` is the caller's address, for the failure budget."""
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
            proven = digest in self._proven
        wait = self.clients.wait(client)
        if wait and not proven:
            raise TooManyFailures("too many failed authentications from this address; wait",
                                  retry_after=wait)
        if self._stored_active is None:
            return secret  # not counted yet: slow() counts
        key_id = key_id_of(secret)
        if key_id is None or self._stored_active == 0:
            raise Unauthorized("unknown token")  # cheap to tell, so not counted
        wait = self.key_ids.wait(key_id)
        if wait and not proven and not self.clients.clean(client):
            raise TooManyFailures("too many failed authentications for this token; wait",
                                  retry_after=wait)
        return secret

    async def verify(self, secret: str, client: str = "") -> Identity:
        """``slow`` in a worker thread, at most ``HASHES_AT_ONCE`` at a time; 503 ``auth_busy``
        at once when ``HASHES_WAITING`` checks already wait. Call it on the event loop."""
        mine = self._waiting.get(client, 0)
        if self.hashes_waiting >= HASHES_WAITING or mine >= HASHES_WAITING_PER_CLIENT:
            raise AuthBusy("too many token checks at once; retry in a moment")
        self.hashes_waiting += 1
        self._waiting[client] = mine + 1
        try:
            return await anyio.to_thread.run_sync(self.slow, secret, client,
                                                  limiter=self.hash_limiter)
        finally:
            self.hashes_waiting -= 1
            self._waiting[client] -= 1
            if not self._waiting[client]:
                del self._waiting[client]

    def slow(self, secret: str, client: str = "") -> Identity:
        if self._stored_active is None:
            self.refresh()
            if not self._configured and self._stored_active == 0:
                return ANONYMOUS
        key_id = key_id_of(secret)
        digest = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            revocations = self._revocations
            proven = digest in self._proven
        # The budget again: checks queued for the hash behind this client's failures go
        # without hashing.
        wait = self.clients.wait(client)
        if wait and not proven:
            raise TooManyFailures("too many failed authentications from this address; wait",
                                  retry_after=wait)
        row = self._journal().tokens.by_key(key_id) if key_id else None
        # Hash even when no row has this key id, against a stand-in: the same work either way.
        salt, expected = (row.salt, row.digest) if row else self._stand_in
        if not hmac.compare_digest(hash_secret(secret, salt, row.kdf if row else KDF),
                                   expected) or row is None:
            self._failed(client, key_id)
            raise Unauthorized("unknown token")
        while True:
            with self._lock:
                if self._revocations == revocations:
                    ident = Identity(row.name, row.role)
                    if len(self._cache) >= CACHE_MAX:
                        self._cache.clear()
                    self._cache[digest] = (ident, row.key_id, self._clock() + CACHE_TTL_S)
                    if len(self._proven) >= CACHE_MAX:
                        self._proven.clear()
                    self._proven[digest] = row.key_id
                    return ident
                revocations = self._revocations
            # A token was revoked while this one was hashed: is it still this one's row?
            again = self._journal().tokens.by_key(row.key_id)
            if again is None or again.id != row.id:
                raise Unauthorized("unknown token")

    def _failed(self, client: str, key_id: str | None) -> None:
        self.clients.failed(client)
        if key_id:
            self.key_ids.failed(key_id)

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
        with self._lock:  # after the commit: a check hashing now will look again
            for digest in [d for d, (_, k, _) in self._cache.items() if k == row.key_id]:
                del self._cache[digest]
            for digest in [d for d, k in self._proven.items() if k == row.key_id]:
                del self._proven[digest]
            self._revocations += 1
        self.sessions.drop_token(row.name)
        self.refresh()
        return row

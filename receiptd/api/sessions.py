"""Browser sessions for the web console: a token is signed in once, then a cookie stands for it.

A person types a token into the console once per browser; it is checked like any bearer token
and exchanged for a random session id, sent back as an ``HttpOnly``, ``SameSite=Strict``
cookie (``Secure`` over TLS). The page's script never sees the token again, nor the cookie.

Sessions live in memory only: a restarted daemon forgets them and the browser signs in again,
which costs a person one paste, while a journal table of live sessions would be one more thing
to steal from a backup. They are bounded (``MAX_SESSIONS``, the oldest dropped first), expire
after ``IDLE_S`` unused and ``LIFETIME_S`` in all, and end at once when their token is revoked.

Each session has its own CSRF token, handed to the page by ``GET /v1/session``: a write that
rides on the cookie must carry it in ``X-CSRF-Token`` (``receiptd.api.deps``). The id is kept
only as its SHA-256, so the map's keys are not the cookies themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "receiptd_session"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 256
#: A till signs in in the morning and is used all day; a phone left alone for half a day is
#: asked again.
IDLE_S = 12 * 3600.0
LIFETIME_S = 7 * 24 * 3600.0


@dataclass
class Session:
    name: str  # the token's name: what the journal records as who asked
    role: str
    csrf: str
    created: float
    used: float
    expires_wall: float  # when it ends at the latest, as a Unix time (for the page)


class SessionStore:
    """Thread-safe; one per app (held by the ``Authenticator``)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_sessions: int = MAX_SESSIONS, idle_s: float = IDLE_S,
                 lifetime_s: float = LIFETIME_S) -> None:
        self._clock = clock
        self._max = max_sessions
        self._idle = idle_s
        self._lifetime = lifetime_s
        self._lock = threading.Lock()
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    def open(self, name: str, role: str) -> tuple[str, Session]:
        """A new session for a token just verified: (the cookie's value, the session)."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(name=name, role=role, csrf=secrets.token_urlsafe(32), created=now,
                          used=now, expires_wall=time.time() + self._lifetime)
        with self._lock:
            self._sweep(now)
            while len(self._sessions) >= self._max:
                self._sessions.popitem(last=False)  # the oldest goes first
            self._sessions[_key(sid)] = session
        return sid, session

    def get(self, sid: str) -> Session | None:
        """The live session of this cookie, or None (unknown, expired, revoked)."""
        if not sid or len(sid) > 128:
            return None
        now = self._clock()
        key = _key(sid)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[key]
                return None
            session.used = now
            return session

    def close(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(_key(sid), None)

    def drop_token(self, name: str) -> int:
        """End every session signed in with the token ``name`` (it was revoked)."""
        with self._lock:
            gone = [k for k, s in self._sessions.items() if s.name == name]
            for key in gone:
                del self._sessions[key]
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.used > self._idle or now - session.created > self._lifetime

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]


def csrf_matches(session: Session, sent: str | None) -> bool:
    """Whether a request carries this session's CSRF token (constant time)."""
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


def _key(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()

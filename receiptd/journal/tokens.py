"""API tokens managed with ``receiptctl token`` (see ``receiptd.api.auth``).

Only a salted hash of each secret is stored; ``key_id`` (public, in the token's prefix) finds
the row without trying every hash. Revoked rows stay: receipts name the token that submitted
them.
"""

from __future__ import annotations

from receiptd.errors import Conflict, NotFound
from receiptd.journal.db import Store, guarded
from receiptd.journal.records import ApiToken, token_from

# The store's ``list`` method hides the builtin inside the class body.
_Tokens = list[ApiToken]


class TokenStore(Store):
    """``journal.tokens``: add, look up, list and revoke API tokens."""

    @guarded
    def add(self, *, key_id: str, name: str, role: str, kdf: str, salt: bytes,
            digest: bytes, created_by: str | None) -> ApiToken:
        """Store a new token; ``Conflict`` (``token_exists``) if an active one has the name."""
        db = self._db
        with db.tx() as conn:
            if db.row("SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
                      (name,)) is not None:
                raise Conflict(f"an active token named {name!r} exists", code="token_exists")
            cur = conn.execute(
                """
                INSERT INTO api_tokens (key_id, name, role, kdf, salt, hash, created_at,
                                        created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (key_id, name, role, kdf, salt, digest, db.now(), created_by),
            )
            return self._by_id(int(cur.lastrowid or 0))

    @guarded
    def by_key(self, key_id: str) -> ApiToken | None:
        """The active token with this public key id, or None."""
        rows = self._db.rows(
            "SELECT * FROM api_tokens WHERE key_id = ? AND revoked_at IS NULL", (key_id,))
        return token_from(rows[0]) if rows else None

    @guarded
    def list(self, *, include_revoked: bool = False) -> _Tokens:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        return [token_from(r)
                for r in self._db.rows(f"SELECT * FROM api_tokens {where} ORDER BY id")]

    @guarded
    def revoke(self, name: str, *, by: str | None) -> ApiToken:
        """Revoke the active token ``name``; ``NotFound`` (``unknown_token``) if there is none."""
        db = self._db
        with db.tx() as conn:
            row = db.row("SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
                          (name,))
            if row is None:
                raise NotFound(f"no active token named {name!r}", code="unknown_token")
            conn.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                         (db.now(), by, row["id"]))
            return self._by_id(int(row["id"]))

    def _by_id(self, token_id: int) -> ApiToken:
        return token_from(self._db.rows("SELECT * FROM api_tokens WHERE id = ?", (token_id,))[0])

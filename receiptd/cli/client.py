"""``receiptctl``'s HTTP client: the typed client (``receiptd.client``) and a plain-text table.

Every ``receiptctl`` command speaks the HTTP API only, through ``Client``. An answer of 400 or
more, or a daemon that cannot be reached, becomes an ``ApiError`` carrying the API's own error
``code`` (``unreachable`` when there was no answer at all).
"""

from __future__ import annotations

from receiptd.client import ApiError, error_of, unreachable
from receiptd.client import Client as TypedClient

__all__ = ["ApiError", "Client", "error_of", "table", "unreachable"]


class Client(TypedClient):
    """The typed client, built from ``receiptctl``'s options (``--url``, ``--token``,
    ``--socket``)."""

    def __init__(self, url: str, token: str | None, unix_socket: str | None,
                 timeout: float = 10.0) -> None:
        super().__init__(url, token, unix_socket=unix_socket, timeout=timeout)


def table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns, two spaces apart, under a header line."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)

"""``receiptctl``'s HTTP client: one call, one error type, and a plain-text table.

Every ``receiptctl`` command speaks the HTTP API only, through ``Client``. An answer of 400 or
more, or a daemon that cannot be reached, becomes an ``ApiError`` carrying the API's own error
``code`` (``unreachable`` when there was no answer at all).
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status = status


def error_of(response: httpx.Response) -> ApiError:
    """The ``ApiError`` for an answer of 400 or more (its body must have been read)."""
    try:
        err = response.json()["error"]
        return ApiError(response.status_code, err["code"], err["message"])
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text)


def unreachable(exc: httpx.HTTPError) -> ApiError:
    return ApiError(0, "unreachable", f"cannot reach receiptd: {exc}")


class Client:
    def __init__(self, url: str, token: str | None, unix_socket: str | None,
                 timeout: float = 10.0) -> None:
        transport = httpx.HTTPTransport(uds=unix_socket) if unix_socket else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        base = "http://receiptd" if unix_socket else url.rstrip("/")
        self.http = httpx.Client(base_url=base, headers=headers, transport=transport,
                                 timeout=timeout)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The decoded JSON answer, or the raw bytes of any other content type."""
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise unreachable(exc) from exc
        if response.status_code >= 400:
            raise error_of(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content


def table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns, two spaces apart, under a header line."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)

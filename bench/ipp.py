"""A minimal IPP/1.1 client (RFC 8010 encoding) over one kept-alive HTTP connection.

Why our own and not a library: a POS app that prints through CUPS speaks IPP over HTTP, and the
benchmark must pay what such an app pays — one request on a kept-alive connection — not the
cost of a subprocess (`lp`) or of a wrapper around libcups. On PyPI, `pyipp` is async and
status-only (no Print-Job), and `pycups` (python3-cups) wraps libcups, which reads the system's
client.conf and adds its own connection handling. The three operations needed here fit in this
file: Print-Job, Get-Job-Attributes, Get-Printer-Attributes.
"""

from __future__ import annotations

import http.client
import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

PRINT_JOB = 0x0002
GET_JOB_ATTRIBUTES = 0x0009
GET_PRINTER_ATTRIBUTES = 0x000B

# delimiter tags
OPERATION = 0x01
JOB = 0x02
END = 0x03
PRINTER = 0x04
# value tags
INTEGER, BOOLEAN, ENUM = 0x21, 0x22, 0x23
TEXT, NAME, KEYWORD, URI, CHARSET, LANGUAGE, MIME = 0x41, 0x42, 0x44, 0x45, 0x47, 0x48, 0x49

JOB_STATES = {3: "pending", 4: "held", 5: "processing", 6: "stopped", 7: "canceled",
              8: "aborted", 9: "completed"}
PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}


class IppError(Exception):
    pass


def _attr(tag: int, name: str, values: list[Any]) -> bytes:
    out = b""
    for i, value in enumerate(values):
        if tag in (INTEGER, ENUM):
            raw = struct.pack(">i", value)
        elif tag == BOOLEAN:
            raw = b"\x01" if value else b"\x00"
        else:
            raw = str(value).encode()
        key = name.encode() if i == 0 else b""  # additional values have an empty name
        out += struct.pack(">BH", tag, len(key)) + key + struct.pack(">H", len(raw)) + raw
    return out


def encode(operation: int, request_id: int, attributes: list[tuple[int, str, list[Any]]],
           data: bytes = b"") -> bytes:
    """An IPP 2.0 request: operation attributes (charset and language first), then data."""
    out = struct.pack(">BBHI", 2, 0, operation, request_id) + bytes([OPERATION])
    out += _attr(CHARSET, "attributes-charset", ["utf-8"])
    out += _attr(LANGUAGE, "attributes-natural-language", ["en"])
    for tag, name, values in attributes:
        out += _attr(tag, name, values)
    return out + bytes([END]) + data


@dataclass
class Response:
    status: int
    request_id: int
    groups: list[tuple[int, dict[str, list[Any]]]] = field(default_factory=list)

    def first(self, group: int) -> dict[str, list[Any]]:
        for tag, attrs in self.groups:
            if tag == group:
                return attrs
        return {}

    @property
    def ok(self) -> bool:
        return self.status < 0x0100  # successful-ok and its variants


def decode(body: bytes) -> Response:
    if len(body) < 9:
        raise IppError(f"short IPP response ({len(body)} bytes)")
    _major, _minor, status, request_id = struct.unpack(">BBHI", body[:8])
    resp = Response(status, request_id)
    pos, current, name = 8, None, ""
    while pos < len(body):
        tag = body[pos]
        pos += 1
        if tag == END:
            break
        if tag < 0x10:
            current = {}
            resp.groups.append((tag, current))
            continue
        if current is None:
            raise IppError("value before any attribute group")
        (nlen,) = struct.unpack(">H", body[pos:pos + 2])
        pos += 2
        if nlen:
            name = body[pos:pos + nlen].decode()
        pos += nlen
        (vlen,) = struct.unpack(">H", body[pos:pos + 2])
        pos += 2
        raw = body[pos:pos + vlen]
        pos += vlen
        value: Any
        if tag in (INTEGER, ENUM) and vlen == 4:
            value = struct.unpack(">i", raw)[0]
        elif tag == BOOLEAN:
            value = raw != b"\x00"
        elif 0x40 <= tag <= 0x4F:
            value = raw.decode("utf-8", "replace")
        else:
            value = raw
        current.setdefault(name, []).append(value)
    return resp


class IppClient:
    """One kept-alive HTTP/1.1 connection to a CUPS server, as a POS app would hold."""

    def __init__(self, host: str, port: int, printer: str, user: str = "pos") -> None:
        self.host, self.port, self.user = host, port, user
        self.uri = f"ipp://{host}:{port}/printers/{printer}"
        self.path = f"/printers/{printer}"
        self._conn = http.client.HTTPConnection(host, port, timeout=30)
        self._ids = itertools.count(1)

    def _call(self, operation: int, attributes: list[tuple[int, str, list[Any]]],
              data: bytes = b"", path: str | None = None) -> Response:
        body = encode(operation, next(self._ids), attributes, data)
        for attempt in (1, 2):
            try:
                self._conn.request("POST", path or self.path, body=body,
                                   headers={"Content-Type": "application/ipp"})
                reply = self._conn.getresponse()
                payload = reply.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # CUPS closes idle keep-alive connections (KeepAliveTimeout): reconnect once.
                self._conn.close()
                if attempt == 2:
                    raise
        if reply.status != 200:
            raise IppError(f"HTTP {reply.status} from CUPS")
        resp = decode(payload)
        if not resp.ok:
            raise IppError(f"IPP status 0x{resp.status:04x}")
        return resp

    def print_job(self, data: bytes, job_name: str) -> int:
        resp = self._call(PRINT_JOB, [
            (URI, "printer-uri", [self.uri]),
            (NAME, "requesting-user-name", [self.user]),
            (NAME, "job-name", [job_name]),
            (MIME, "document-format", ["application/vnd.cups-raw"]),
        ], data)
        return int(resp.first(JOB)["job-id"][0])

    def job_state(self, job_id: int) -> str:
        resp = self._call(GET_JOB_ATTRIBUTES, [
            (URI, "printer-uri", [self.uri]),
            (INTEGER, "job-id", [job_id]),
            (NAME, "requesting-user-name", [self.user]),
            (KEYWORD, "requested-attributes", ["job-state"]),
        ])
        return JOB_STATES.get(int(resp.first(JOB)["job-state"][0]), "unknown")

    def printer_status(self) -> dict[str, Any]:
        resp = self._call(GET_PRINTER_ATTRIBUTES, [
            (URI, "printer-uri", [self.uri]),
            (NAME, "requesting-user-name", [self.user]),
            (KEYWORD, "requested-attributes",
             ["printer-state", "printer-state-reasons", "printer-state-message"]),
        ])
        attrs = resp.first(PRINTER)
        return {
            "state": PRINTER_STATES.get(int(attrs.get("printer-state", [0])[0]), "unknown"),
            "reasons": sorted(attrs.get("printer-state-reasons", [])),
            "message": (attrs.get("printer-state-message") or [""])[0],
        }

    def close(self) -> None:
        self._conn.close()

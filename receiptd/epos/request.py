"""The request as it arrives: a SOAP 1.1 envelope around one ``<epos-print>`` document, and
the parameters that may ride in the envelope's header instead of the URL.

Epson's own clients put ``devid`` and ``timeout`` in the query string
(``service.cgi?devid=local_printer&timeout=60000``); the WSDL form of the interface puts them,
and a ``printjobid``, in ``<s:Header><parameter>``. Both are read; the query string wins. A
bare ``<epos-print>`` without an envelope is accepted too, since it is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from receiptd.epos.errors import SchemaError
from receiptd.epos.xmltree import Node, parse

EPOS_NS = "http://www.epson-pos.com/schemas/2011/03/epos-print"
SOAP_NAMESPACES = frozenset({
    "http://schemas.xmlsoap.org/soap/envelope/",  # SOAP 1.1, what Epson's clients send
    "http://www.w3.org/2003/05/soap-envelope",  # SOAP 1.2, harmless to accept
})
#: Epson's rule for a print job ID: 1 to 30 of letters, digits, '_', '-', '.'.
_JOB_ID = re.compile(r"[A-Za-z0-9_.\-]{1,30}")


@dataclass(frozen=True)
class EposRequest:
    """The ``<epos-print>`` element and the header's parameters (None where absent)."""

    document: Node
    devid: str | None = None
    timeout: str | None = None
    printjobid: str | None = None


def _header_params(header: Node) -> dict[str, str]:
    found: dict[str, str] = {}
    for parameter in header.children:
        if parameter.name != "parameter":
            continue
        for child in parameter.children:
            if child.name in ("devid", "timeout", "printjobid"):
                found[child.name] = child.text.strip()
    return found


def read_request(data: bytes) -> EposRequest:
    """Parse the body; ``SchemaError`` unless it holds exactly one ePOS-Print document."""
    root = parse(data)
    params: dict[str, str] = {}
    if root.name == "epos-print" and root.ns == EPOS_NS:
        document = root
    elif root.name == "Envelope" and root.ns in SOAP_NAMESPACES:
        bodies = [c for c in root.children if c.name == "Body" and c.ns == root.ns]
        headers = [c for c in root.children if c.name == "Header" and c.ns == root.ns]
        if len(bodies) != 1:
            raise SchemaError("the SOAP envelope must hold one Body")
        for header in headers:
            params.update(_header_params(header))
        inside = bodies[0].children
        if len(inside) != 1 or inside[0].name != "epos-print" or inside[0].ns != EPOS_NS:
            raise SchemaError(f"the SOAP Body must hold one <epos-print xmlns=\"{EPOS_NS}\">")
        document = inside[0]
    else:
        raise SchemaError(f"expected a SOAP envelope or <epos-print xmlns=\"{EPOS_NS}\">, "
                          f"not <{root.name}>")
    job = params.get("printjobid")
    if job is not None and not _JOB_ID.fullmatch(job):
        raise SchemaError("printjobid must be 1 to 30 letters, digits, '_', '-' or '.'")
    return EposRequest(document, params.get("devid"), params.get("timeout"), job)

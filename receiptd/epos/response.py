"""The ``<response>`` an ePOS-Print client waits for, in the SOAP envelope a printer sends.

``battery`` is always 0 (Epson: "0 when the model has no battery"). A ``printjobid`` the
request named is echoed inside the response, as ePOS-Print does.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from receiptd.epos.request import EPOS_NS

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
CONTENT_TYPE = "text/xml; charset=utf-8"


def response_xml(*, success: bool, code: str = "", status: int = 0,
                 printjobid: str | None = None) -> bytes:
    """The whole answer body."""
    inner = "" if printjobid is None else f"<printjobid>{escape(printjobid)}</printjobid>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>'
        f'<response success="{"true" if success else "false"}" code={quoteattr(code)} '
        f'status="{status}" battery="0" xmlns="{EPOS_NS}">{inner}</response>'
        "</s:Body></s:Envelope>"
    ).encode()

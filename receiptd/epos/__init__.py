"""Epson ePOS-Print XML: the documents web and tablet POS apps post to a printer, read into
receiptd's own content, and the printer's answers written back (pure: no I/O).

``read_request`` parses a request body safely (no DTDs, bounded size and element count) and
``convert`` maps its ``<epos-print>`` elements onto document blocks; ``response_xml`` writes
the ``<response>`` a printer would send, with ``status_bits``/``fault_code`` giving the
printer's state in Epson's terms.
"""

from receiptd.epos.convert import Converted, convert
from receiptd.epos.errors import SchemaError, Unsupported
from receiptd.epos.request import EPOS_NS, EposRequest, read_request
from receiptd.epos.response import CONTENT_TYPE, response_xml
from receiptd.epos.status import fault_code, status_bits

#: Where Epson printers serve ePOS-Print, and so where POS apps post to.
SERVICE_PATH = "/cgi-bin/epos/service.cgi"

__all__ = [
    "CONTENT_TYPE",
    "EPOS_NS",
    "SERVICE_PATH",
    "Converted",
    "EposRequest",
    "SchemaError",
    "Unsupported",
    "convert",
    "fault_code",
    "read_request",
    "response_xml",
    "status_bits",
]

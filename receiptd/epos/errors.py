"""What can be wrong with an ePOS-Print request, as the printer's own answer names it.

Every refusal is raised before anything is journaled: a request that fails here prints nothing
and leaves no trace but a log line.
"""

from __future__ import annotations

from receiptd.errors import InvalidDocument


class SchemaError(InvalidDocument):
    """The request is not an ePOS-Print document receiptd can read: not well-formed XML, a
    DTD or entity declaration, an unknown element, a bad attribute value, too many elements.
    Answered ``success="false" code="SchemaError"``, as an Epson printer answers it."""

    code = "epos_schema_error"


class Unsupported(SchemaError):
    """A valid ePOS-Print element receiptd cannot print faithfully (raw ``command`` bytes,
    page-mode drawing). Refused as a whole rather than printed with a part missing; the
    message names the element."""

    code = "epos_unsupported"

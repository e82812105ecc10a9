"""Allow-list check of ``raw`` ESC/POS input, parsed the way the printer parses it.

* ``syntax``: how long each command is, and the rejection codes;
* ``tables``: which commands are allowed, and why the others are not;
* ``text``: text as a printer in a double-byte character mode reads it;
* ``check``: ``check_raw``, the walk over the bytes.
"""

from receiptd.document.raw.check import check_raw
from receiptd.document.raw.syntax import (
    BAD_PARAMETER,
    DOUBLE_BYTE,
    FORBIDDEN,
    REALTIME,
    TRUNCATED,
    UNKNOWN,
)

__all__ = [
    "BAD_PARAMETER",
    "DOUBLE_BYTE",
    "FORBIDDEN",
    "REALTIME",
    "TRUNCATED",
    "UNKNOWN",
    "check_raw",
]

"""The printer's state as an ePOS-Print client reads it: the ``status`` bits and the error
``code`` of a ``<response>``.

The bit values are Epson's ASB (automatic status back) constants as the ePOS-Print XML
reference lists them for ``<response status>`` and the ePOS-Print API names them
(``ASB_*``); see docs/DESIGN.md "Epson ePOS-Print" for the sources. receiptd sets the bits it
knows from its own view of the printer (the same flags the health API shows), and never sets
``ASB_PRINT_SUCCESS`` unless the receipt was confirmed on paper.
"""

from __future__ import annotations

from collections.abc import Iterable

ASB_NO_RESPONSE = 0x00000001
ASB_PRINT_SUCCESS = 0x00000002
ASB_DRAWER_KICK = 0x00000004  # drawer kick connector pin 3 is high
ASB_OFF_LINE = 0x00000008
ASB_COVER_OPEN = 0x00000020
ASB_PAPER_FEED = 0x00000040  # paper being fed by the feed button
ASB_WAIT_ON_LINE = 0x00000100
ASB_PANEL_SWITCH = 0x00000200
ASB_MECHANICAL_ERR = 0x00000400
ASB_AUTOCUTTER_ERR = 0x00000800
ASB_UNRECOVER_ERR = 0x00002000
ASB_AUTORECOVER_ERR = 0x00004000
ASB_RECEIPT_NEAR_END = 0x00020000
ASB_RECEIPT_END = 0x00080000
ASB_BUZZER = 0x01000000
ASB_SPOOLER_IS_STOPPED = 0x80000000

#: receiptd's status flags (``receiptd.protocol.StatusFlags`` field names) → ASB bit.
FLAG_BITS: dict[str, int] = {
    "offline": ASB_OFF_LINE,
    "cover_open": ASB_COVER_OPEN,
    "paper_near_end": ASB_RECEIPT_NEAR_END,
    "paper_end": ASB_RECEIPT_END,
    "cutter_error": ASB_AUTOCUTTER_ERR,
    "recoverable_error": ASB_MECHANICAL_ERR,
    "unrecoverable_error": ASB_UNRECOVER_ERR,
    "auto_recoverable_error": ASB_AUTORECOVER_ERR,
    "drawer_open": ASB_DRAWER_KICK,
    "feed_button": ASB_PAPER_FEED,
}

#: receiptd's printer state (``receiptd.printer.states.PrinterState`` values) → the ePOS-Print
#: error code a printer in that state answers a print with.
STATE_CODES: dict[str, str] = {
    "paper_out": "EPTR_REC_EMPTY",
    "cover_open": "EPTR_COVER_OPEN",
    "cutter_error": "EPTR_CUTTER",
    "mechanical_error": "EPTR_MECHANICAL",
    "auto_recoverable_error": "EPTR_AUTOMATICAL",
    "unrecoverable_error": "EPTR_UNRECOVERABLE",
}

# The codes receiptd answers besides the printer's own (ePOS-Print XML reference, <response>).
SCHEMA_ERROR = "SchemaError"
DEVICE_NOT_FOUND = "DeviceNotFound"
PRINT_SYSTEM_ERROR = "PrintSystemError"
EX_BADPORT = "EX_BADPORT"  # the link to the printer is down
EX_TIMEOUT = "EX_TIMEOUT"  # not confirmed on paper within the request's timeout
TOO_LARGE = "RequestEntityTooLarge"


def status_bits(flags: Iterable[str], *, connected: bool, printed: bool = False,
                answering: bool = True) -> int:
    """The ``status`` value for a printer with these flags. ``answering`` False: connected,
    but the printer has stopped answering status queries (its flags are its last word)."""
    bits = ASB_PRINT_SUCCESS if printed else 0
    if not connected:
        return bits | ASB_NO_RESPONSE
    if not answering:
        bits |= ASB_NO_RESPONSE
    for flag in flags:
        bits |= FLAG_BITS.get(flag, 0)
    return bits


def fault_code(state: str, *, connected: bool) -> str | None:
    """The error code for a printer in ``state``, or None when it can print. ``offline``
    without a reported cause is the link (``EX_BADPORT``) when receiptd has no connection,
    else the printer holding itself offline (``EX_TIMEOUT``: it would not print in time)."""
    if state in STATE_CODES:
        return STATE_CODES[state]
    if state == "offline":
        return EX_TIMEOUT if connected else EX_BADPORT
    return None

"""Taking receipts in: what every door (the JSON API, a virtual printer port, ePOS-Print,
CUPS through the API) does with a receipt before answering its client, in one place.

A receipt is checked (raw bytes against the allow-list, printable with the printer's profile,
paper within the cap), rendered once, and journaled durably; only then is it announced and the
printer's spooler woken. Whatever the door, what the journal holds always prints.
"""

from receiptd.intake.accept import Origin, Prepared, accept, prepare, require_printer
from receiptd.intake.backend import Backend

__all__ = ["Backend", "Origin", "Prepared", "accept", "prepare", "require_printer"]

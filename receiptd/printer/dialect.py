"""What differs between the printer languages the session speaks: the seam it asks.

``escpos`` (Epson and its emulations) and ``star`` (Star Line Mode, StarPRNT). Each gives the
session its reply parser, its status question (for polls and progress marks), what goes
after a print's bytes, and how that print is later proven printed:

* ESC/POS: ``GS a`` re-armed and a process ID (``GS ( H``) in the print's own bytes; the
  printer hands the ID back once the print is out (``StateBoard.process_id_returned``).
* Star: an ``ETB`` the session writes itself once the print's bytes are all out, so that it
  knows the ETB's place among the others (``printer.etb``); a status whose ETB counter
  reaches that place hands the print's process ID to the same board, and the spooler cannot
  tell the two apart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final, Protocol

from receiptd import protocol
from receiptd.config import PrinterConfig
from receiptd.printer.liveness import Ledger, Question
from receiptd.protocol import star
from receiptd.render.profiles import Profile, resolve_profile, with_dialect

ESCPOS: Final = "escpos"
STAR: Final = "star"
DIALECTS: Final = (ESCPOS, STAR)


class Parser(Protocol):
    def feed(self, data: bytes) -> Sequence[protocol.Event | star.StarEvent]: ...

    def reset(self) -> None: ...


class Dialect(Protocol):
    name: str

    def parser(self) -> Parser: ...

    def ledger(self) -> Ledger: ...

    def print_trailer(self, pid: str) -> bytes:
        """Bytes that end every print's payload."""
        ...

    def status_now(self) -> bytes:
        """A question the printer answers with its full status at once."""
        ...


class EscPos:
    name = ESCPOS

    def parser(self) -> Parser:
        return protocol.StreamParser()

    def ledger(self) -> Ledger:
        return Ledger()

    def print_trailer(self, pid: str) -> bytes:
        # ESC @ in the body may reset ASB on some models: re-arm it before the process ID.
        return protocol.enable_asb() + protocol.process_id(pid)

    def status_now(self) -> bytes:
        return protocol.request_status_now(1)


class StarLedger(Ledger):
    """A Star status round is one ``ESC ACK SOH``, answered by one automatic status."""

    def queries(self) -> bytes:
        self._asked.append(Question(0, self.written, time.monotonic()))
        return star.status_request()


class Star:
    name = STAR

    def parser(self) -> Parser:
        return star.StarStreamParser()

    def ledger(self) -> Ledger:
        return StarLedger()

    def print_trailer(self, pid: str) -> bytes:
        return b""  # the session writes the ETB itself: PrinterSession.print_sent

    def status_now(self) -> bytes:
        return star.status_request()


def dialect_for(name: str) -> Dialect:
    if name == ESCPOS:
        return EscPos()
    if name == STAR:
        return Star()
    raise ValueError(f"unknown printer dialect {name!r}: expected one of {DIALECTS}")


def printer_profile(name: str, printer: PrinterConfig,
                    custom: dict[str, dict[str, Any]]) -> Profile:
    """The profile a printer is rendered for: its configured profile, in its dialect (a
    ``dialect = "star"`` printer gets Star bytes, ``render.profiles.with_dialect``). A
    profile that names a Star dialect itself (``star_raster``) keeps it."""
    profile = resolve_profile(printer.profile_name, printer.profile_overrides, custom,
                              where=f"printers.{name}")
    if printer.dialect == ESCPOS or profile.dialect != ESCPOS:
        return profile
    return with_dialect(profile, printer.dialect, where=f"printers.{name}")


def session_dialect(profile: Profile) -> str:
    """What the session speaks to a printer rendered for ``profile``: every Star rendering
    (Line Mode or raster lines) shares Star's status, ETB counter and version reply."""
    return ESCPOS if profile.dialect == ESCPOS else STAR

"""One print made ready to send: the journaled bytes under this print's marker, the paper they
take, and the places between their commands where a progress mark may go.

Everything here reads the journaled receipt and nothing else, so whatever goes wrong here
belongs to that one receipt: the spooler fails that print (with the reason) and goes on with
the next, instead of stopping the printer (see ``Spooler._print``).
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from receiptd.document import Content
from receiptd.errors import ReceiptdError
from receiptd.journal import Print, Receipt, utcnow
from receiptd.journal.trouble import DELAYED
from receiptd.render.markers import copy_marker, interrupted_marker
from receiptd.render.profiles import Profile, get_profile
from receiptd.spool.stale import delayed_marker

DEFAULT_PAPER_MM = 300.0  # receipts journaled before paper estimates were kept
CHUNK = 1024  # small enough that a fault stops us within one chunk of print data
# A progress mark goes at the first command boundary this far past the last one: a printer
# with a full buffer of text (~3 KB/s at 250 mm/s) then answers every ~0.2 s.
MARK_BYTES = 512


class Unprintable(Exception):
    """This print cannot be made from what the journal holds; the message says why."""


@dataclass(frozen=True)
class Prepared:
    receipt: Receipt
    marker: str | None
    data: bytes  # the receipt's bytes with this print's marker section
    paper_mm: float  # the larger of the journaled estimate and what the bytes ask for
    boundaries: tuple[int, ...]  # offsets in ``data`` between two commands


def prepare(receipt: Receipt, job: Print, profile: Profile, log: Any) -> Prepared:
    """Make ``job`` ready; raises (``Unprintable`` or whatever the damage causes) when the
    receipt cannot be printed, and the caller fails that one print."""
    if receipt.id != job.receipt_id:
        raise Unprintable(f"print {job.id} belongs to receipt {job.receipt_id}, not {receipt.id}")
    from receiptd.render.paper import command_boundaries  # rendering: on the first print

    marker = marker_for(receipt, job)
    data = bytes_for(receipt, marker, profile, log)
    return Prepared(receipt, marker, data, paper_mm(receipt, marker, data, profile),
                    tuple(command_boundaries(data, profile)))


def marker_for(receipt: Receipt, job: Print) -> str | None:
    parts = []
    if job.marker == DELAYED:  # held stale, printed on a person's word
        parts.append(delayed_marker(receipt.created_at, utcnow()))
    if job.copy_number is not None:
        parts.append(copy_marker(job.copy_number, receipt.printed_at))
    if job.kind == "interrupted_retry":
        first = receipt.prints[0].sent_at if receipt.prints else None
        parts.append(interrupted_marker(job.attempt, first))
    return "\n".join(parts) or None


def bytes_for(receipt: Receipt, marker: str | None, profile: Profile, log: Any) -> bytes:
    """The journaled bytes, with this print's marker section: nothing is validated or laid
    out again here when the printer's profile is the one the receipt was accepted for.

    If the printer's profile changed since, the receipt is laid out again for the paper now
    in it if it still fits there, else printed as it was accepted. Journaled bytes that are
    not a rendering for the profile they were accepted for are damaged: then only the
    journaled content can make the print, and if it cannot either, the print is
    ``Unprintable`` (bytes of unknown meaning never go to the printer)."""
    from receiptd.render.sections import marker_section, render, with_marker

    rendered = receipt.rendered
    if receipt.profile == profile.name and rendered:
        with contextlib.suppress(ValueError):  # ValueError: the profile's settings changed
            return with_marker(rendered, marker, profile)
    try:
        return render(Content.model_validate_json(receipt.content), profile, marker=marker)
    except (ReceiptdError, ValueError) as exc:
        if not _is_rendering(rendered, receipt.profile, profile):
            raise Unprintable(
                f"receipt {receipt.id}: its journaled bytes are damaged (not a rendering for "
                f"profile {receipt.profile!r}) and its content cannot be laid out again "
                f"({exc})") from exc
        log.warning("print_with_accepted_layout", receipt=receipt.id, profile=profile.name,
                    accepted_for=receipt.profile, error=str(exc))
        return marker_section(marker, profile) + rendered


def _is_rendering(rendered: bytes, accepted_for: str, current: Profile) -> bool:
    """Do the journaled bytes start the way a rendering for their profile does? (A custom
    profile that is no longer configured cannot be checked: given the benefit of the doubt.)"""
    from receiptd.render.sections import prologue

    if not rendered:
        return False
    try:
        profile = current if current.name == accepted_for else get_profile(accepted_for)
    except (ReceiptdError, KeyError, ValueError):
        return True
    if rendered.startswith(prologue(profile)):
        return True
    # A raster-only Star rendering journaled before its prologue became ESC * r R began
    # with ESC @.
    return profile.dialect == "star_raster" and rendered.startswith(b"\x1b@")


def paper_mm(receipt: Receipt, marker: str | None, data: bytes, profile: Profile) -> float:
    """Paper this print needs: the estimate journaled at submission plus the marker, or what
    the bytes themselves ask for if that is more (a receipt accepted before every feeding
    command was counted must not overrun its deadline and loop)."""
    from receiptd.render.paper import marker_paper_mm, raw_paper_mm

    accepted = float(receipt.paper_mm) if receipt.paper_mm is not None else DEFAULT_PAPER_MM
    return max(accepted + marker_paper_mm(marker, profile), raw_paper_mm(data, profile))


def pieces(size: int, boundaries: Sequence[int]) -> Iterator[tuple[int, bool]]:
    """How to write ``size`` bytes: (end of the piece, whether a progress mark may follow it).

    Pieces are at most ``CHUNK`` bytes, so a fault stops the print within one; a piece ends
    at the first command boundary ``MARK_BYTES`` or more past the last mark when one lies
    within reach, and only such a piece may be followed by a mark."""
    at = 0
    while at < size:
        j = bisect.bisect_left(boundaries, at + MARK_BYTES)
        if j < len(boundaries) and boundaries[j] <= min(at + CHUNK, size):
            at = boundaries[j]
            yield at, at < size
        else:
            at = min(at + CHUNK, size)
            yield at, False

"""The words printed above a copy or an interrupted reprint, so nobody takes it for a new
order.

Markers are plain ASCII (``-`` rather than an em dash: not every code page has one) and carry
the fixed words ``COPY`` and ``REPRINT``; times are the local wall clock.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["copy_marker", "interrupted_marker"]


def _when(moment: datetime) -> str:
    """Local wall-clock time: aware datetimes are converted, naive ones taken as local."""
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def copy_marker(copy_number: int, original_printed_at: datetime | None) -> str:
    """``COPY 2 - original printed 2026-11-20 14:03`` (ASCII: not every code page has an
    em dash)."""
    text = f"COPY {copy_number}"
    if original_printed_at is not None:
        text += f" - original printed {_when(original_printed_at)}"
    return text


def interrupted_marker(attempt: int, first_attempt_at: datetime | None) -> str:
    """``*** REPRINT: interrupted ***`` and a line with the attempt and the first try."""
    text = "*** REPRINT: interrupted ***\n" + f"attempt {attempt}"
    if first_attempt_at is not None:
        text += f", first sent {_when(first_attempt_at)}"
    return text


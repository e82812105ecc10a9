"""A Star rendering's three parts, as ``sections`` has them for ESC/POS::

    prologue(profile) + marker_section(marker, profile) + body

* the **prologue**: Line Mode ``ESC @`` (initialise), ``ESC z 1`` (4 mm line feed) and
  ``ESC GS t n`` (the profile's code page); raster only: ``ESC * r R`` (initialise raster
  mode: Star Graphic mode printers, the TSP100 class, have no ``ESC @``);
* the **marker section** is empty for an original print, else framed by ``STAR_DELIMITER``
  at both ends: ``ESC 5`` (cancel white/black inversion) in Line Mode, a no-op as nothing of
  ours inverts; ``ESC * r B`` (quit raster mode) between the raster sections, a no-op as
  every raster section has quit raster mode already. It holds the marker lines, starts and
  ends in the prologue's state, so the body's bytes do not depend on it;
* the **body** depends only on the content and the profile.

A section is found as ``sections`` finds one: after the prologue, the delimiter and the
section's first rule, and up to a delimiter right after its last rule (and the return to the
default style and code page); raw content that merely starts with the delimiter stays body.
"""

from __future__ import annotations

import functools

from receiptd.render.layout import marker_lines
from receiptd.render.profiles import Profile
from receiptd.render.star import (
    INITIALIZE,
    INVERSE_OFF,
    LINE_FEED_4MM,
    RASTER_INITIALIZE,
    RASTER_QUIT,
    code_page_number,
    new_writer,
)

__all__ = ["delimiter", "marker_section", "prologue", "section_end"]

ESC_GS_T = b"\x1b\x1dt"


def delimiter(profile: Profile) -> bytes:
    """What frames a marker section in this profile's Star dialect."""
    return RASTER_QUIT if profile.dialect == "star_raster" else INVERSE_OFF


def prologue(profile: Profile) -> bytes:
    if profile.dialect == "star_raster":
        return RASTER_INITIALIZE
    page = code_page_number(profile, profile.encoding)
    return INITIALIZE + LINE_FEED_4MM + ESC_GS_T + bytes([page])


def marker_section(marker: str | None, profile: Profile) -> bytes:
    """The bytes of a marker (empty for ``None``), framed by ``delimiter(profile)``."""
    if marker is None:
        return b""
    writer = new_writer(profile)
    for line in marker_lines(marker, profile):
        writer.line(line)
    mark = delimiter(profile)
    return mark + writer.finish() + mark


@functools.lru_cache(maxsize=32)
def _rules(profile: Profile) -> tuple[bytes, bytes]:
    """How every marker section on this printer begins (the delimiter, up to its first rule)
    and ends before its closing delimiter (its last rule, the return to the prologue's state;
    a code page switch back may follow in Line Mode)."""
    writer = new_writer(profile)
    writer.line(marker_lines("", profile)[0])
    rule = writer.last_line
    data = writer.finish()
    after = data.index(rule) + len(rule)
    return delimiter(profile) + data[:after], rule + data[after:]


def section_end(rest: bytes, profile: Profile) -> int:
    """The length of the marker section ``rest`` (what follows the prologue) starts with; 0
    if it starts with none."""
    opening, closing = _rules(profile)
    if not rest.startswith(opening):
        return 0
    mark = delimiter(profile)
    endings = [closing]
    if profile.dialect != "star_raster":
        endings.append(closing + ESC_GS_T + bytes([code_page_number(profile, profile.encoding)]))
    at = len(opening)
    while (at := rest.find(mark, at)) >= 0:
        if any(rest.endswith(end, 0, at) for end in endings):
            return at + len(mark)
        at += 1
    return 0

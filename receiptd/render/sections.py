"""A rendering's three parts, and how to take them apart again.

Every rendering is three parts, concatenated::

    prologue(profile) + marker_section(marker, profile) + render_body(content, profile)

* the **prologue** is fixed per profile: ``ESC @`` (initialise) and ``ESC t n`` (the
  profile's code page), plus ``FS .`` (Kanji mode off) on double-byte printers, after
  ``FS C 1`` (Shift_JIS) on Japanese ones. It never ends in ``10`` (DLE): the printer looks
  for real-time commands in the byte stream regardless of commands, so ``ESC t 16`` (CP1252)
  followed by a raw body starting with ``14`` or ``04`` would be ``DLE DC4`` or ``DLE EOT``.
  Such a prologue gets ``ESC 2`` (default line spacing, which ``ESC @`` has just set) after
  it;
* the **marker section** is empty for an original print. For a copy or an interrupted
  reprint it is framed by ``ESC ! 0`` at both ends — a command the body never emits — and
  holds centred bold lines between two rules of ``=``. It starts and ends in the prologue's
  printer state, so the body's bytes do not depend on it;
* the **body** depends only on the content and the profile: a reprint of a receipt is
  byte-identical to the original after the marker section (``split_marker``).

So a journaled rendering can be marked without the document (``with_marker``): a reprint
prints the bytes that were checked at submission, even after the profile has changed.

A profile whose ``dialect`` is a Star one (``star``, ``star_raster``) gets Star bytes in the
same three parts, with the same properties (``star_sections``); ``escpos`` is the default.
"""

from __future__ import annotations

import functools

from receiptd.document import Content
from receiptd.render import star_sections
from receiptd.render.escpos import constants
from receiptd.render.items import Item
from receiptd.render.layout import layout, marker_lines
from receiptd.render.paper import items_paper_mm
from receiptd.render.profiles import Profile
from receiptd.render.star import new_writer
from receiptd.render.writer import KANJI_OFF, Writer

__all__ = [
    "MARKER_DELIMITER",
    "marker_section",
    "prologue",
    "render",
    "render_body",
    "split_marker",
    "with_marker",
]

MARKER_DELIMITER = b"\x1b!\x00"  # ESC ! 0, select print mode 0: a no-op here, never in a body
KANJI_SHIFT_JIS = b"\x1cC\x01"  # FS C 1: Kanji code system Shift_JIS (Japanese models)
DLE = 0x10  # the first byte of every real-time command
# ESC 2, select the default line spacing: a no-op right after ESC @, and it ends in 32, so a
# prologue that would end in DLE ends in it instead.
DLE_GUARD = b"\x1b\x32"


def prologue(profile: Profile) -> bytes:
    """``ESC @``, the profile's code page (``ESC t n``), and on double-byte printers the
    Kanji code system (``FS C 1`` for Shift_JIS; Chinese and Korean models have one fixed
    set) and Kanji mode off (``FS .``). Note: ``ESC @`` also cancels ``GS a`` (ASB) on many
    printers. A Star profile has its own (``star_sections.prologue``)."""
    if profile.dialect != "escpos":
        return star_sections.prologue(profile)
    code_page = bytes([profile.code_pages[profile.encoding]])
    out: bytes = constants.HW_INIT + constants.CODEPAGE_CHANGE + code_page
    if profile.double_byte == "shift_jis":
        out += KANJI_SHIFT_JIS
    if profile.double_byte:
        out += KANJI_OFF
    # Whatever the body starts with, the printer must not see a real-time command across the
    # junction (the raw check refuses a body starting with 04, 05 or 14 as well).
    return out + DLE_GUARD if out[-1] == DLE else out


def marker_section(marker: str | None, profile: Profile) -> bytes:
    """The bytes of a marker (empty for ``None``), framed by ``MARKER_DELIMITER`` (by
    ``star_sections.delimiter`` on a Star profile)."""
    if profile.dialect != "escpos":
        return star_sections.marker_section(marker, profile)
    if marker is None:
        return b""
    writer = Writer(profile)
    for line in marker_lines(marker, profile):
        writer.line(line)
    return MARKER_DELIMITER + writer.finish() + MARKER_DELIMITER


def render_body(content: Content, profile: Profile) -> bytes:
    """The receipt's own bytes: the same for the original and every reprint."""
    return _write(layout(content, profile), content, profile)


def _write(items: list[Item] | None, content: Content, profile: Profile) -> bytes:
    if items is None:
        return content.raw_bytes()
    writer = Writer(profile) if profile.dialect == "escpos" else new_writer(profile)
    for item in items:
        writer.item(item)
    return writer.finish()


def render_measured(content: Content, profile: Profile) -> tuple[bytes, float]:
    """``render(content, profile)`` and ``paper_length_mm(content, profile)`` from one
    layout: what accepting a receipt needs, at the cost of one."""
    items = layout(content, profile)
    return (prologue(profile) + _write(items, content, profile),
            items_paper_mm(items, content, profile))


def render(content: Content, profile: Profile, *, marker: str | None = None) -> bytes:
    """Printer bytes for ``content`` on a ``profile`` printer (ESC/POS, or Star commands
    for a Star ``profile.dialect``), with an optional marker
    (``copy_marker``/``interrupted_marker``) printed above the receipt.

    ``render(c, p, marker=m) == prologue(p) + marker_section(m, p) + render_body(c, p)``.
    Raises ``InvalidDocument`` if the content cannot be printed on this printer. Raw
    content is passed through unchanged: the caller checks it with
    ``receiptd.document.raw.check_raw``.
    """
    return prologue(profile) + marker_section(marker, profile) + render_body(content, profile)


@functools.lru_cache(maxsize=32)
def _rules(profile: Profile) -> tuple[bytes, bytes]:
    """How every marker section on this printer begins (the delimiter and its first rule)
    and ends before its closing delimiter (its last rule and the return to the default
    style; a code page switch back may follow)."""
    rule = marker_lines("", profile)[0]
    writer = Writer(profile)
    writer.line(rule)
    data = writer.finish()
    text = rule.text.encode("ascii") + b"\n"
    after = data.index(text) + len(text)
    return MARKER_DELIMITER + data[:after], text + data[after:]


def _section_end(rest: bytes, profile: Profile) -> int:
    """The length of the marker section ``rest`` starts with; 0 if it starts with none.

    Raw content may itself start with ``ESC ! 0``, so the delimiter alone does not make a
    marker section: it must open with the first rule and close after the last one."""
    if profile.dialect != "escpos":
        return star_sections.section_end(rest, profile)
    opening, closing = _rules(profile)
    if not rest.startswith(opening):
        return 0
    code_page = constants.CODEPAGE_CHANGE + bytes([profile.code_pages[profile.encoding]])
    at = len(opening)
    while (at := rest.find(MARKER_DELIMITER, at)) >= 0:
        if rest.endswith(closing, 0, at) or rest.endswith(closing + code_page, 0, at):
            return at + len(MARKER_DELIMITER)
        at += 1
    return 0


def _split(data: bytes, profile: Profile) -> tuple[bytes, bytes, bytes]:
    head = prologue(profile)
    if not data.startswith(head):
        raise ValueError("not a rendering for this profile: the prologue differs")
    rest = data[len(head) :]
    end = _section_end(rest, profile)
    return head, rest[:end], rest[end:]


def split_marker(data: bytes, profile: Profile) -> tuple[bytes, bytes, bytes]:
    """Split a rendering into (prologue, marker section, body); the marker section is
    ``b""`` when there is none. ``ValueError`` if ``data`` is not a rendering for
    ``profile``, or if what follows the prologue starts with ``MARKER_DELIMITER`` but is
    not a whole marker section (a cut-off section, or a raw body that starts with
    ``ESC ! 0``: ``with_marker`` takes that for the body)."""
    head, section, body = _split(data, profile)
    mark = MARKER_DELIMITER if profile.dialect == "escpos" else star_sections.delimiter(profile)
    if not section and body.startswith(mark):
        raise ValueError("unterminated marker section")
    return head, section, body


def with_marker(rendered: bytes, marker: str | None, profile: Profile) -> bytes:
    """A rendering for ``profile`` with its marker section replaced by ``marker``'s (none
    for ``None``), without the document: equal to ``render(content, profile,
    marker=marker)`` whatever marker ``rendered`` had. ``ValueError`` if ``rendered`` is not
    a rendering for ``profile`` (its prologue differs).

    A raw body that starts with ``ESC ! 0`` is kept whole; only one that starts with a
    complete marker section's framing (rules and all) would be taken for a marker."""
    head, _, body = _split(rendered, profile)
    return head + marker_section(marker, profile) + body

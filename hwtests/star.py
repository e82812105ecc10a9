"""The Star half of the qualification: a Star printer in Star Line Mode (mC-Print, TSP650II) or
raster only (TSP100 class: TSP143), probed directly and then driven through the real daemon.

Star's questions and answers are not ESC/POS ones (STAR Line Mode Command Specifications,
chapter 3 and appendix 5.2.3 "Automatic Status"):

* ``ENQ``, ``EOT``: one status byte each, answered on arrival (recorded only);
* ``ESC ACK SOH``: one automatic status block (ASB), answered on arrival, stopped or not;
* ``ESC RS a 1``: automatic status on (one block when it is read from the buffer);
* ``ESC # * LF NUL``: the version line, ``TSP143IIIU Ver1.0`` (the printer's identity);
* ``ETB``: once everything before it has printed, the ASB's 5-bit ETB counter goes up and a
  block is sent; ``ESC RS E n`` sets the counter to 0. receiptd proves every Star print so.

The probe's test slip is rendered by receiptd for the printer's profile, so a raster-only model
gets raster lines and a Line Mode model Line Mode text. The daemon's part adds, to the operator
steps both dialects share, a full receipt (text styles, barcode, QR, image, cut, drawer) and a
receipt interrupted by the cover mid-print, which must come out again under a reprint marker.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx

from receiptd import protocol
from receiptd.document.content import parse_content
from receiptd.links import link_for_url
from receiptd.protocol import star
from receiptd.protocol.replies import Garbage
from receiptd.render import render
from receiptd.render.profiles import Profile

Slips = Callable[[], list[list[dict[str, Any]]]]
STAR_MAKER = "Star Micronics"
ETB_SLIP_TEXT = "receiptd hwtests: ETB and cutter test"
# A copy's or a reprint's marker line (receiptd.render.markers): "COPY 1 ..." or "*** REPRINT".
MARKER_WORDS = ("COPY", "REPRINT")


class _Parser(Protocol):
    def feed(self, data: bytes) -> Sequence[object]: ...


def exchange(link: Any, parser: _Parser, data: bytes, want: Callable[[object], bool],
             timeout: float) -> object | None:
    """Send ``data``, return the first reply event ``want`` accepts, None on timeout."""
    if data:
        link.write(data, timeout=5.0)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for event in parser.feed(link.read(min(left, 0.2))):
            if want(event):
                return event
    return None


def _png(width: int = 96, height: int = 48) -> str:
    """A checkerboard the operator can recognise, as base64 PNG."""
    from PIL import Image

    image = Image.new("1", (width, height), 1)
    for x in range(width):
        for y in range(height):
            if (x // 12 + y // 12) % 2:
                image.putpixel((x, y), 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def full_receipt(tag: str) -> dict[str, Any]:
    """Every kind of block receiptd renders, once."""
    return {"blocks": [
        {"type": "text", "text": f"RECEIPTD HW TEST {tag}", "align": "center", "bold": True},
        {"type": "text", "text": "underlined", "underline": 1},
        {"type": "text", "text": "LARGE", "size": [2, 2]},
        {"type": "row", "left": "Qualification", "right": tag},
        {"type": "rule"},
        {"type": "barcode", "data": "RCPT12345", "symbology": "CODE128", "height": 60},
        {"type": "qr", "data": f"https://example.org/receiptd/{tag}", "size": 5},
        {"type": "image", "png": _png()},
        {"type": "cut"},
        {"type": "drawer", "pin": 2},
    ]}


def long_receipt(tag: str, rows: int = 40) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": f"RECEIPTD HW TEST {tag}", "align": "center", "bold": True}]
    blocks += [{"type": "row", "left": f"Line {i}", "right": tag} for i in range(rows)]
    blocks += [{"type": "text", "text": f"END {tag}", "align": "center"}, {"type": "cut"}]
    return {"blocks": blocks}


# ------------------------------------------------------------------------------ the probe


def probe_star(url: str, profile: Profile, confirm: Callable[[str, Callable[[], bool]], bool],
               saw_cut: Callable[[], bool]) -> tuple[list[tuple[str, bool | None, str]],
                                                     dict[str, str]]:
    """Ask the printer directly (receiptd not running). Returns (name, supported, detail)
    rows and the identity its version line gives."""
    link = link_for_url(url)
    link.open()
    parser = star.StarStreamParser()
    rows: list[tuple[str, bool | None, str]] = []
    identity: dict[str, str] = {}
    last_flags: list[protocol.StatusFlags] = []

    def asb(event: object) -> bool:
        if isinstance(event, protocol.AsbStatus):
            last_flags.append(event.flags)
            return True
        return False

    try:
        for name, question in (("ENQ", b"\x05"), ("EOT", b"\x04")):
            # One status byte each, on arrival: recorded, not required (receiptd reads ASB).
            ev = exchange(link, parser, question, lambda e: isinstance(e, Garbage), 1.5)
            rows.append((f"{name} (one-byte status)", ev is not None,
                         f"0x{ev.data[0]:02X}" if isinstance(ev, Garbage) else "no reply"))
        ev = exchange(link, parser, star.status_request(), asb, 2.0)
        rows.append(("status (ESC ACK SOH: ASB)", ev is not None,
                     _asb_detail(ev) if isinstance(ev, protocol.AsbStatus) else "no reply"))
        ev = exchange(link, parser, star.enable_asb(True), asb, 2.0)
        rows.append(("automatic status (ESC RS a 1)", ev is not None,
                     _asb_detail(ev) if isinstance(ev, protocol.AsbStatus)
                     else "no status block"))
        ev = exchange(link, parser, star.version_request(),
                      lambda e: isinstance(e, star.VersionReply), 3.0)
        if isinstance(ev, star.VersionReply):
            identity = {"maker": STAR_MAKER, "firmware": ev.text,
                        "model": ev.text.split(" Ver")[0].strip()}
        rows.append(("identity (ESC # * LF NUL)", bool(identity),
                     repr(identity["firmware"]) if identity else "no version line"))
        rows += _etb_and_cut(link, parser, profile, asb, confirm, saw_cut, last_flags)
    finally:
        link.close()
    return rows, identity


def _etb_and_cut(link: Any, parser: _Parser, profile: Profile, asb: Callable[[object], bool],
                 confirm: Callable[[str, Callable[[], bool]], bool], saw_cut: Callable[[], bool],
                 last_flags: list[protocol.StatusFlags]) -> list[tuple[str, bool | None, str]]:
    """Counter to 0, a slip and an ETB: the block the ETB sends must show counter 1, with its
    "ETB executed" bit; ``ESC ACK SOH`` after it must still show 1. The slip is cut."""
    slip = render(parse_content({"document": {"blocks": [
        {"type": "text", "text": ETB_SLIP_TEXT, "bold": True}, {"type": "feed", "lines": 2},
        {"type": "cut"}]}}), profile)
    link.write(star.clear_etb_counter(), timeout=5.0)
    counted = exchange(link, parser, slip + star.etb(),
                       lambda e: isinstance(e, star.EtbCounter) and e.value != 0, 15.0)
    after = exchange(link, parser, star.status_request(),
                     lambda e: isinstance(e, star.EtbCounter), 2.0)
    exchange(link, parser, b"", asb, 0.5)  # the status block that follows the counter
    ok = (isinstance(counted, star.EtbCounter) and counted.value == 1 and counted.executed
          and isinstance(after, star.EtbCounter) and after.value == 1)
    detail = (f"after the slip: {_counter(counted)}; ESC ACK SOH then: {_counter(after)}")
    cutter_error = bool(last_flags) and last_flags[-1].cutter_error
    cut = confirm(f"Did the printer print '{ETB_SLIP_TEXT}' and cut the paper?", saw_cut)
    return [
        ("ETB counter (ETB, ESC RS E 0)", ok, detail),
        ("autocutter", cut and not cutter_error,
         f"operator: {'cut' if cut else 'not cut'}; ASB "
         f"{'auto-cutter error' if cutter_error else 'no cutter error'}"),
    ]


def _counter(event: object) -> str:
    if not isinstance(event, star.EtbCounter):
        return "no counter"
    return f"counter {event.value}{' (ETB executed)' if event.executed else ''}"


def _asb_detail(event: protocol.AsbStatus) -> str:
    flags = [f.name for f in dataclasses.fields(event.flags) if getattr(event.flags, f.name)]
    return f"{event.raw.hex(' ')} ({', '.join(flags) or 'ready'})"


# ------------------------------------------------------------------------------ evidence


def _text(entry: dict[str, Any]) -> str:
    return str(entry.get("text", "")) if entry.get("type") == "text" else ""


def printed_so_far(slips: Slips) -> int:
    """How many transcript entries there are: a mark to look for what comes out after it."""
    return sum(len(slip) for slip in slips())


def cut_slips_after(slips: Slips, mark: int) -> list[list[dict[str, Any]]]:
    """The slips that came out after ``mark`` (``printed_so_far``) and were cut off: an
    emulator slip stays open after its cut until the next entry, so entries are split here."""
    entries = [e for slip in slips() for e in slip][mark:]
    out, current = [], []
    for entry in entries:
        current.append(entry)
        if entry.get("type") == "cut":
            out.append(current)
            current = []
    return out


def full_receipt_on_paper(slips: Slips, tag: str, raster: bool) -> bool:
    """What the emulator printed for ``full_receipt(tag)``: in Line Mode its styled text,
    barcode, QR and image on a slip that was cut; in raster mode one cut image. And the
    drawer pulse after the cut."""
    every = slips()
    for i, slip in enumerate(every):
        kinds = {e.get("type") for e in slip}
        if raster:
            found = "image" in kinds
        else:
            texts = [e for e in slip if tag in _text(e)]
            found = (bool(texts) and any(e.get("bold") for e in texts)
                     and any(e.get("underline") for e in slip if e.get("type") == "text")
                     and any(e.get("size") == [2, 2] for e in slip if e.get("type") == "text")
                     and {"barcode", "qr", "image"} <= kinds)
        if found and "cut" in kinds:
            rest = [e for s in every[i:] for e in s]
            return any(e.get("type") == "drawer" for e in rest)
    return False


def marked_reprint_on_paper(slips: Slips, tag: str, raster: bool, mark: int) -> bool:
    """A slip after ``mark`` that came out whole (ends at a cut) under a marker: in Line Mode
    its marker line is text; raster lines hold it in the image, so there the whole second
    slip is the evidence."""
    for slip in cut_slips_after(slips, mark):
        kinds = {e.get("type") for e in slip}
        if raster and "image" in kinds:
            return True
        texts = [_text(e) for e in slip]
        if (any(t.lstrip().startswith(MARKER_WORDS) or "REPRINT" in t for t in texts)
                and any(f"END {tag}" in t for t in texts)):
            return True
    return False


# ------------------------------------------------------------------------------ daemon steps


def interrupted_reprint(daemon: Any, operator: Any, timeout: float, slips: Slips,
                        raster: bool) -> dict[str, Any]:
    """The cover opened mid-receipt: the print must be left in doubt (interrupted), and the
    receipt must come out again in full under a reprint marker once the cover is closed."""
    out: dict[str, Any] = {"detected": False, "recovered": False, "receipt_printed": False,
                           "observed": "", "error": "", "detect_s": None, "recover_s": None}
    tag = "reprint"
    try:
        operator.do("interrupt_next", "Get ready: a long receipt (about 1 m) starts printing "
                    "when you press Enter. OPEN THE COVER while it is still printing, and leave "
                    "it open.")
        before = printed_so_far(slips)
        t0 = time.monotonic()
        # A person needs seconds to reach the cover: a metre of paper gives them that.
        rows = 40 if operator.name == "emulator" else 250
        receipt = daemon.submit_document(long_receipt(tag, rows), tag)
        seen = daemon.wait("the cover open mid-receipt",
                           lambda: daemon.printer()["state"] in ("cover_open", "paper_out")
                           and daemon.printer(), timeout)
        out["detect_s"] = round(time.monotonic() - t0, 2)
        first = daemon.wait("the print in doubt", lambda: _print_states(daemon, receipt),
                            timeout)
        if first[0] != "interrupted":
            raise RuntimeError(f"the receipt's print is {first[0]!r}, not interrupted: the "
                               "cover was opened after it had printed?")
        out["detected"] = True
        out["observed"] = f"{seen['state']} ({seen.get('cause', '')}); print interrupted"
        t1 = time.monotonic()
        operator.do("close_cover", "Close the cover firmly.")
        daemon.wait("the printer ready again",
                    lambda: daemon.printer()["state"] in ("online", "paper_near_end"), timeout)
        out["recover_s"] = round(time.monotonic() - t1, 2)
        out["recovered"] = True
        daemon.wait("the receipt printed again",
                    lambda: daemon.receipt_state(receipt) == "printed", timeout)
        prints = daemon.receipt_prints(receipt)
        kinds = [(p["kind"], p["state"]) for p in prints]
        if kinds[0] != ("original", "interrupted") or kinds[-1][1] != "printed":
            raise RuntimeError(f"prints {kinds}: expected the original interrupted, then a "
                               "retry printed")
        marked = operator.confirm(
            "Did the long receipt come out again in full, with a reprint marker (a line "
            "starting 'COPY' or '*** REPRINT') at its top?",
            lambda: marked_reprint_on_paper(slips, tag, raster, before))
        if not marked:
            raise RuntimeError("the reprint came out without its marker")
        out["observed"] += f"; {' -> '.join(k for k, _ in kinds)}, marked"
        out["receipt_printed"] = True
    except (TimeoutError, RuntimeError, httpx.HTTPError) as exc:
        out["error"] = str(exc)
    return out


def marked_copy(daemon: Any, operator: Any, receipt: int, slips: Slips, raster: bool,
                timeout: float) -> tuple[bool, str]:
    """A cashier's copy of ``receipt`` (the full receipt): printed, proven, and under its
    ``COPY 1`` marker. Returns (passed, detail)."""
    before = printed_so_far(slips)
    try:
        daemon.reprint(receipt)
        daemon.wait("the copy printed", lambda: [
            p for p in daemon.receipt_prints(receipt)
            if p["kind"] == "reprint" and p["state"] == "printed"], timeout)
    except (TimeoutError, RuntimeError, httpx.HTTPError) as exc:
        return False, str(exc)
    marked = operator.confirm(
        "Did a copy of the first receipt print, with 'COPY 1' at its top?",
        lambda: copy_on_paper(slips, raster, before))
    return marked, f"printed; operator: {'COPY 1 marker seen' if marked else 'NO marker'}"


def copy_on_paper(slips: Slips, raster: bool, mark: int) -> bool:
    """A cut slip after ``mark`` under a ``COPY 1`` marker (raster: a cut image)."""
    for slip in cut_slips_after(slips, mark):
        kinds = {e.get("type") for e in slip}
        if raster and "image" in kinds:
            return True
        if any(_text(e).lstrip().startswith("COPY 1") for e in slip):
            return True
    return False


def _print_states(daemon: Any, receipt: int) -> list[str] | None:
    states = [str(p["state"]) for p in daemon.receipt_prints(receipt)]
    return states if states and states[0] not in ("queued", "sending") else None

"""Barcodes and QR codes: whether the data can be printed, and their modules.

Everything here is decided before a byte is written, so a receipt that cannot be printed on
this printer is refused at submission (``InvalidDocument``) rather than cut short on paper:
check digits, the characters a symbology carries, and the width of the bars against the
paper. QR codes never get refused for width: their module size shrinks to fit the paper.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from typing import Any, NamedTuple

from receiptd.render import ondemand

# Before qrcode and python-barcode, which import Pillow's drawing they do not use here.
ondemand.defer_drawing()

import qrcode  # type: ignore[import-untyped]  # noqa: E402
import qrcode.constants  # type: ignore[import-untyped]  # noqa: E402
import qrcode.util  # type: ignore[import-untyped]  # noqa: E402
from barcode import get_barcode_class  # type: ignore[import-untyped]  # noqa: E402
from qrcode.exceptions import DataOverflowError  # type: ignore[import-untyped]  # noqa: E402

from receiptd.document import BarcodeBlock, QrBlock  # noqa: E402
from receiptd.errors import InvalidDocument  # noqa: E402
from receiptd.render.profiles import Profile  # noqa: E402

__all__ = ["HW_NAMES", "Bars", "bars", "check_digit", "qr_fit", "qr_matrix", "qr_modules"]

_EAN_LENGTHS = {"EAN13": 13, "EAN8": 8, "UPC-A": 12}
HW_NAMES = {"CODABAR": "NW7"}  # the printer's name for a symbology, where it differs


class Bars(NamedTuple):
    """A checked barcode: what the printer's barcode command carries, the human-readable
    text (with the check digit), and the bar pattern in dots (``"1"`` = bar)."""

    printer_data: str
    hri_text: str
    modules: str


def check_digit(digits: str) -> str:
    """The EAN/UPC check digit (weights 3 and 1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def bars(block: BarcodeBlock, profile: Profile) -> Bars:
    """Check a barcode against its symbology and the paper; ``InvalidDocument`` if it
    cannot be printed."""
    sym, data, w = block.symbology, block.data, block.width

    def bad(why: str) -> InvalidDocument:
        return InvalidDocument(f"barcode {sym} {data!r}: {why}")

    if sym in _EAN_LENGTHS:
        n = _EAN_LENGTHS[sym]
        if not data.isdigit() or len(data) not in (n - 1, n):
            raise bad(f"needs {n - 1} digits, or {n} with the check digit")
        body = data[: n - 1]
        if len(data) == n and data[-1] != check_digit(body):
            raise bad(f"wrong check digit (expected {check_digit(body)})")
        full = body + check_digit(body)
        printer_data, hri_text = body, full
        cls = {"EAN13": "ean13", "EAN8": "ean8", "UPC-A": "upca"}[sym]
        modules = get_barcode_class(cls)(body).build()[0]
        modules = "".join(m * w for m in modules)
    elif sym == "CODE128":
        printer_data = "{B" + data.replace("{", "{{")
        hri_text = data
        modules = "".join(m * w for m in get_barcode_class("code128")(data).build()[0])
    elif sym == "CODE39":
        core = data[1:-1] if len(data) > 2 and data[0] == data[-1] == "*" else data
        allowed = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ -.$/+%")
        if not core or any(c not in allowed for c in core):
            raise bad("CODE39 carries only 0-9, A-Z, space and - . $ / + %")
        printer_data, hri_text = core, core
        raw = get_barcode_class("code39")(core, add_checksum=False).build()[0]
        modules = "".join(m * w for m in raw)
    elif sym == "ITF":
        if not data.isdigit() or len(data) % 2:
            raise bad("ITF needs an even number of digits")
        printer_data, hri_text = data, data
        modules = get_barcode_class("itf")(data, narrow=w, wide=math.ceil(w * 2.5)).build()[0]
    else:  # CODABAR
        if not re.fullmatch(r"[A-Da-d][0-9$+\-./:]+[A-Da-d]", data):
            raise bad("CODABAR needs start/stop letters A-D around 0-9 and - $ : / . +")
        printer_data, hri_text = data.upper(), data.upper()
        modules = get_barcode_class("codabar")(
            printer_data, narrow=w, wide=math.ceil(w * 2.5)
        ).build()[0]
    if len(printer_data) > 255:
        raise bad("too long")
    if len(modules) > profile.width_dots:
        raise bad(
            f"is {len(modules)} dots wide at module width {w}; the paper has "
            f"{profile.width_dots} (use a smaller width or shorter data)"
        )
    return Bars(printer_data, hri_text, modules)


_QR_EC = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


#: qrcode's default: digit and alphanumeric runs of at least this length get their own segment.
_QR_OPTIMIZE = 20


def _qr_code(data: str, ec: str) -> Any:
    code = qrcode.QRCode(error_correction=_QR_EC[ec], border=0)
    code.add_data(data.encode("utf-8"), optimize=_QR_OPTIMIZE)
    return code


#: A run qrcode would give a segment of its own: ``_QR_OPTIMIZE`` or more characters of the
#: alphanumeric set (digits are in it, so a run of digits is one of these too).
_QR_ALNUM_RUN = re.compile(
    b"[" + re.escape(qrcode.util.ALPHA_NUM) + b"]{" + str(_QR_OPTIMIZE).encode() + b",}")


def _qr_segments(data: bytes) -> list[tuple[int, int]]:
    """(mode, length) of each segment qrcode's ``optimal_data_chunks`` makes of ``data``.
    Data longer than ``_QR_OPTIMIZE`` bytes without a run that gets a segment of its own
    (a URL in lower case, most text) is one byte-mode segment: said without splitting it."""
    if len(data) > _QR_OPTIMIZE and _QR_ALNUM_RUN.search(data) is None:
        return [(qrcode.util.MODE_8BIT_BYTE, len(data))]
    chunks = qrcode.util.optimal_data_chunks(data, minimum=_QR_OPTIMIZE)
    return [(chunk.mode, len(chunk)) for chunk in chunks]


def _qr_data_bits(segments: list[tuple[int, int]], version: int) -> int:
    """Bits the segments take in a symbol of ``version`` (the count field's width depends on
    it): counted, not encoded. The same sum qrcode's ``best_fit`` gets by writing every bit
    into a buffer, which costs a third of a millisecond for a receipt's URL."""
    count_bits = qrcode.util.mode_sizes_for_version(version)
    bits = 0
    for mode, n in segments:
        bits += 4 + count_bits[mode]
        if mode == qrcode.util.MODE_NUMBER:  # 3 digits in 10 bits; 2 in 7; 1 in 4
            bits += 10 * (n // 3) + (0, 4, 7)[n % 3]
        elif mode == qrcode.util.MODE_ALPHA_NUM:  # 2 characters in 11 bits; 1 in 6
            bits += 11 * (n // 2) + 6 * (n % 2)
        else:
            bits += 8 * n
    return bits


@functools.lru_cache(maxsize=256)
def qr_modules(data: str, ec: str) -> int:
    """Modules across the QR symbol for ``data``: the smallest version whose capacity holds
    it, chosen as qrcode chooses it for the raster (``qr_matrix``), so the two agree."""
    chunks = _qr_segments(data.encode("utf-8"))
    limits = qrcode.util.BIT_LIMIT_TABLE[_QR_EC[ec]]
    version = 1
    while True:  # the count fields widen at versions 10 and 27: fit again from there
        needed = bisect.bisect_left(limits, _qr_data_bits(chunks, version), version)
        if needed > 40:
            raise InvalidDocument(f"QR data is too long for a QR code at level {ec}")
        if qrcode.util.mode_sizes_for_version(needed) is qrcode.util.mode_sizes_for_version(
                version):
            return 17 + 4 * needed
        version = needed


@functools.lru_cache(maxsize=64)
def qr_matrix(data: str, ec: str) -> tuple[tuple[bool, ...], ...]:
    """The QR symbol's modules (no quiet zone), for raster printing and previews."""
    code = _qr_code(data, ec)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError) as exc:
        raise InvalidDocument(f"QR data is too long for a QR code at level {ec}") from exc
    return tuple(tuple(bool(m) for m in row) for row in code.get_matrix())


def qr_fit(block: QrBlock, profile: Profile) -> tuple[int, int]:
    """(modules across the symbol, module size in dots) for a QR code on this paper."""
    modules = qr_modules(block.data, block.ec)
    # Fit the paper with a 2-module quiet zone either side: shrink rather than refuse.
    size = max(1, min(block.size, profile.width_dots // (modules + 4)))
    return modules, size

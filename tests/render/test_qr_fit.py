"""The QR version receiptd counts for sizing a receipt is the one qrcode encodes the raster
with: the two must agree, or a raster QR would not take the room the layout gave it."""

from __future__ import annotations

import random
import string

import pytest
import qrcode  # type: ignore[import-untyped]
import qrcode.util  # type: ignore[import-untyped]

from receiptd.errors import InvalidDocument
from receiptd.render.codes import _QR_EC, qr_matrix, qr_modules

ALPHABETS = {
    "digits": string.digits,
    "upper": string.digits + string.ascii_uppercase + " $%*+-./:",
    "url": string.ascii_letters + string.digits + "/:.?=&-_%",
    "mixed": string.printable[:95] + "äöüß€中文",
}


def qrcode_version(data: str, ec: str) -> int:
    code = qrcode.QRCode(error_correction=_QR_EC[ec], border=0)
    code.add_data(data.encode("utf-8"))
    return int(code.best_fit())


def runs(rng: random.Random, length: int) -> str:
    """Runs of digits, upper-case and free text one after another: the data qrcode splits into
    several segments of different modes."""
    out = ""
    while len(out) < length:
        out += "".join(rng.choices(ALPHABETS[rng.choice(list(ALPHABETS))], k=rng.randint(1, 60)))
    return out[:length]


@pytest.mark.parametrize("ec", ["L", "M", "Q", "H"])
def test_version_matches_qrcode_for_every_kind_of_data(ec: str) -> None:
    rng = random.Random(f"qr-{ec}")
    # Lengths around the count field's widening (versions 10 and 27) and up to the limit.
    lengths = [0, 1, 2, 3, 19, 20, 21, 40, 100, 200, 230, 300, 400, 600, 1000, 1500, 2000]
    checked = 0
    for length in lengths + [rng.randint(1, 2900) for _ in range(60)]:
        for kind in ("digits", "upper", "url", "mixed", "runs"):
            data = runs(rng, length) if kind == "runs" else "".join(
                rng.choices(ALPHABETS[kind], k=length))
            try:
                expected = qrcode_version(data, ec)
            except (qrcode.exceptions.DataOverflowError, ValueError):
                with pytest.raises(InvalidDocument):
                    qr_modules(data, ec)
                continue
            assert qr_modules(data, ec) == 17 + 4 * expected, (kind, length)
            checked += 1
    assert checked > 150


def test_the_raster_has_the_counted_modules() -> None:
    for data in ("https://shop.example/r/BX0001234?sig=9F3A", "0" * 41, "HELLO WORLD 123"):
        assert len(qr_matrix(data, "M")) == qr_modules(data, "M")


def test_data_beyond_version_40_is_refused() -> None:
    with pytest.raises(InvalidDocument, match="too long"):
        qr_modules("x" * 3000, "L")


@pytest.mark.parametrize("ec", ["L", "M", "Q", "H"])
def test_lengths_at_the_count_fields_widening(ec: str) -> None:
    """Data that fits version 10 (or 27) with the narrower count field of the versions below,
    but not with its own wider one, takes the next version."""
    limits = qrcode.util.BIT_LIMIT_TABLE[_QR_EC[ec]]
    bits_per = {"x": 8, "7": 10 / 3, "A": 5.5}
    for version in (10, 27):
        for char, per in bits_per.items():
            centre = int(limits[version] / per)
            for length in range(max(1, centre - 12), centre + 12):
                data = char * length
                try:
                    expected = qrcode_version(data, ec)
                except qrcode.exceptions.DataOverflowError:
                    continue
                assert qr_modules(data, ec) == 17 + 4 * expected, (char, length)

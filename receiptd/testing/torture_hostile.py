"""The hostile till of a torture run: a client holding only a ``pos`` token that replays the
attacks made on receiptd, at random moments, while the honest tills print.

* forged confirmations: raw bytes that hide a ``GS ( H`` process-ID request from the filter
  (Kanji mode reading ``81 30 1D 28`` as one character, a JIS pair taking ``GS``, ``GS k 04``
  with 520 bytes and no NUL, tab stops past 32 positions);
* real-time commands at the junction with the daemon's prologue (raw starting ``14 ...`` or
  ``04 ...``: drawer pulse, buffer clear, status request);
* paper fed forever (``ESC d 255`` six times after one line);
* image bombs: many small PNGs of 2048x4096 1-bit pixels in one receipt, and one alone;
* wrong-secret floods: secrets that cannot be a token, and stored-token secrets (a real key
  id, so each costs a scrypt hash until the failure budget says 429).

A forged confirmation from the printer's side (what a hidden ``GS ( H`` that got through would
make the printer send) is the chaos's ``forged_replies``, in ``torture.py``.

Each attack is answered with a refusal (counted by status and code) or accepted; an accepted
attack receipt carries a tag like a till's (``H…``) and is checked on paper like one: printed
whole exactly once unmarked. ``must_refuse`` attacks that are accepted are listed.
"""

from __future__ import annotations

import base64
import io
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from receiptd import protocol

H = bytes.fromhex
PID = protocol.process_id(protocol.encode_pid(2))


def _tag_lines(tag: str) -> bytes:
    return f"RECEIPT {tag}\nTOTAL {tag}\n".encode() + b"\x1dV\x00"


def _raw(data: bytes) -> dict[str, Any]:
    return {"raw": base64.b64encode(data).decode()}


def _kanji(tag: str) -> dict[str, Any]:
    hidden = b"".join(protocol.process_id(protocol.encode_pid(k)) for k in (2, 3))
    return _raw(H("1c 26 81 30 1d 28 4b") + len(hidden).to_bytes(2, "little") + hidden
                + H("1c 2e") + _tag_lines(tag))


def _jis(tag: str) -> dict[str, Any]:
    return _raw(H("1c 26 41 1d 28 4b 0b 00") + PID + H("1c 2e") + _tag_lines(tag))


def _barcode(tag: str) -> dict[str, Any]:
    return _raw(H("1d 6b 04") + b"A" * 520 + PID + H("00") + _tag_lines(tag))


def _tabs(tag: str) -> dict[str, Any]:
    return _raw(H("1b 44") + bytes(range(1, 33)) + H("1d 28 4b 0c 00 00") + PID + H("00")
                + _tag_lines(tag))


def _realtime(prefix: str) -> Callable[[str], dict[str, Any]]:
    return lambda tag: _raw(H(prefix) + b"X\n" + _tag_lines(tag))


def _feed_forever(tag: str) -> dict[str, Any]:
    return _raw(f"RECEIPT {tag}\n".encode() + b"\x1bd\xff" * 6 + f"TOTAL {tag}\n".encode())


_BOMB: list[str] = []


def bomb_png() -> str:
    """A 2048x4096 1-bit PNG, almost all white: a few KB that decode to 8 M pixels."""
    if not _BOMB:
        image = Image.new("1", (2048, 4096), 1)
        for y in range(0, 4096, 512):
            image.paste(0, (0, y, 2048, y + 8))
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        _BOMB.append(base64.b64encode(out.getvalue()).decode())
    return _BOMB[0]


def _bomb_doc(tag: str, images: int) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": f"RECEIPT {tag}"}]
    blocks += [{"type": "image", "png": bomb_png()} for _ in range(images)]
    blocks += [{"type": "text", "text": f"TOTAL {tag}"}, {"type": "cut"}]
    return {"document": {"blocks": blocks}}


@dataclass(frozen=True)
class Attack:
    name: str
    body: Callable[[str], dict[str, Any]]
    must_refuse: bool  # accepted, it is listed (and still checked on paper)


ATTACKS = [
    Attack("smuggle_kanji_gs_paren_h", _kanji, True),
    Attack("smuggle_jis_pair_takes_gs", _jis, True),
    Attack("smuggle_barcode_520_no_nul", _barcode, True),
    Attack("smuggle_tabs_past_32", _tabs, True),
    Attack("realtime_dc4_drawer_pulse", _realtime("14 01 00 05"), True),
    Attack("realtime_dc4_buffer_clear", _realtime("14 08 01 03 14 01 06 02 08"), True),
    Attack("realtime_eot_status", _realtime("04 01"), True),
    Attack("feed_forever", _feed_forever, False),  # refused, or capped and printed
    Attack("image_bombs_16", lambda tag: _bomb_doc(tag, 16), True),
    Attack("image_bomb_1", lambda tag: _bomb_doc(tag, 1), False),
]
FLOOD = "wrong_secret_flood"


def wrong_secret(rng: random.Random, key_id: str | None) -> str:
    """A secret that is no token: a stored token's shape with a real key id (a hash each),
    an unknown key id, or no token shape at all."""
    roll = rng.random()
    if key_id and roll < 0.6:
        return f"rct_{key_id}_{secrets.token_urlsafe(32)}"
    if roll < 0.8:
        return f"rct_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    return secrets.token_urlsafe(24)


def outcome(r: httpx.Response | None) -> str:
    """``202``, ``422 raw_realtime_sequence``, ``connection_error``, ..."""
    if r is None:
        return "connection_error"
    if r.status_code < 300:
        return str(r.status_code)
    try:
        code = r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "?"
    return f"{r.status_code} {code}"


def flood(http: httpx.Client, rng: random.Random, tries: int, key_id: str | None,
          counts: Counter[str]) -> None:
    """``tries`` submissions with wrong secrets, as fast as they are answered (a try that
    found the daemon down is made again)."""
    body = {"document": {"blocks": [{"type": "text", "text": "NOT A RECEIPT"}]}}
    for _ in range(tries):
        r: httpx.Response | None = None
        headers = {"Authorization": f"Bearer {wrong_secret(rng, key_id)}"}
        for _ in range(100):  # a try that met a killed daemon is made again
            try:
                r = http.post("/v1/printers/front/receipts", json=body, headers=headers)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        counts[outcome(r)] += 1

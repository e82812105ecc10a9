"""A receipt's body as stored: its content and its rendered bytes, without saying twice what
one of them already holds.

A raw receipt's rendered bytes are the printer's prologue followed by the very bytes its
content carries (in base64, a third larger): storing both wrote a 250 KB raw receipt three
times over (WAL and checkpoint included, five times its size). Its content is kept instead
as ``{"raw_tail": N}``, "the last N bytes of the rendering", and given back whole on reading,
the same JSON value that was accepted. Only content whose base64 is exactly what
re-encoding gives back is packed; anything else is kept as it came.
"""

from __future__ import annotations

import base64
import binascii
import json

_PACKED_HEAD = '{"raw_tail":'


def pack(content_json: str, rendered: bytes) -> str:
    """The content as it is stored next to ``rendered``."""
    if not content_json.startswith('{"raw"'):
        return content_json
    try:
        value = json.loads(content_json)
        encoded = value["raw"]
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return content_json
    if (set(value) != {"raw"} or not raw or not rendered.endswith(raw)
            or base64.b64encode(raw).decode() != encoded):
        return content_json
    return f"{_PACKED_HEAD}{len(raw)}}}"


def unpack(stored: str, rendered: bytes) -> str:
    """The content as it was accepted (the same JSON value, compactly written); ``""`` when
    the rendering it points into is too short to hold it (a damaged body)."""
    if not stored.startswith(_PACKED_HEAD):
        return stored
    length = json.loads(stored)["raw_tail"]
    if not isinstance(length, int) or not 0 < length <= len(rendered):
        return ""
    return json.dumps({"raw": base64.b64encode(rendered[-length:]).decode()},
                      separators=(",", ":"))

"""How the printer turns text bytes into characters: ESC t code pages and Kanji-mode sets.

The decoder asks ``dbcs_width`` where a character ends (a double-byte character must not be
split between two commands); the interpreter asks ``decode_text`` what to draw.
"""

from __future__ import annotations

# ESC t n character code tables (Epson numbering) that Python has a codec for; 1 is the
# JIS X 0201 Katakana table (ASCII + half-width katakana at A1-DF), decoded by hand.
CODEPAGES: dict[int, str] = {
    0: "cp437", 1: "katakana", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 13: "cp857",
    14: "cp737", 15: "iso8859_7", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858",
    21: "cp874", 32: "cp720", 33: "cp775", 34: "cp855", 35: "cp861", 36: "cp862", 37: "cp864",
    38: "cp869", 39: "iso8859_2", 40: "iso8859_15", 44: "cp1125", 45: "cp1250", 46: "cp1251",
    47: "cp1253", 48: "cp1254", 49: "cp1255", 50: "cp1256", 51: "cp1257", 52: "cp1258",
    53: "kz1048",
}

# The double-byte character sets of Kanji mode (FS &), by the name the emulator is
# configured with (``cjk=``): Chinese (GB18030), Taiwanese (Big5), Japanese (Shift_JIS,
# also chosen by FS C 1) and Korean (KS C 5601, sent as EUC-KR byte pairs) models.
DBCS_CODECS: dict[str, str] = {
    "gb18030": "gb18030", "gbk": "gbk", "big5": "big5", "shift_jis": "shift_jis",
    "shift_jisx0213": "shift_jisx0213", "ksc5601": "euc_kr", "euc_kr": "euc_kr", "jis": "jis",
}


def dbcs_width(buf: bytes | bytearray, i: int, dbcs: str | None) -> int:
    """Bytes of the character at ``i``: 1, 2 or 4; 0 if it is cut off at the end of ``buf``."""
    b = buf[i]
    if dbcs is None:
        return 1
    if dbcs == "jis":
        if not 0x21 <= b <= 0x7E:
            return 1
        return 2 if i + 1 < len(buf) else 0
    sjis = dbcs.startswith("shift_jis")
    lead = (0x81 <= b <= 0x9F or 0xE0 <= b <= 0xFC) if sjis else 0x81 <= b <= 0xFE
    if not lead:
        return 1
    if i + 1 >= len(buf):
        return 0
    second = buf[i + 1]
    if dbcs == "gb18030" and 0x30 <= second <= 0x39:
        return 4 if i + 3 < len(buf) else 0
    return 2 if second >= 0x40 else 1


def decode_text(raw: bytes, dbcs: str | None, codepage: int) -> str:
    """Text bytes as the printer draws them: in the Kanji-mode character set if it is on,
    else in the selected code page (unknown tables print as PC437)."""
    if dbcs == "jis":
        return bytes(b | 0x80 for b in raw).decode("euc_jp", errors="replace")
    if dbcs is not None:
        return raw.decode(DBCS_CODECS.get(dbcs, dbcs), errors="replace")
    page = CODEPAGES.get(codepage, "cp437")
    if page == "katakana":
        return "".join(
            chr(b) if b < 0x80 else chr(0xFF61 + b - 0xA1) if 0xA1 <= b <= 0xDF else "\ufffd"
            for b in raw
        )
    return raw.decode(page, errors="replace")

"""Barcode and 2D symbol names, and the readable content a barcode stands for.

The transcript shows what a symbol says (``[BARCODE CODE128 12345]``), not its bars.
"""

from __future__ import annotations

# GS k m: the 1D symbologies.
BARCODE_SYMBOLOGIES: dict[int, str] = {
    0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
    65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "CODABAR",
    72: "CODE93", 73: "CODE128", 74: "GS1-128", 75: "GS1 DATABAR OMNIDIRECTIONAL",
    76: "GS1 DATABAR TRUNCATED", 77: "GS1 DATABAR LIMITED", 78: "GS1 DATABAR EXPANDED",
    79: "CODE128 AUTO",
}

# GS ( k cn: the 2D symbols.
SYMBOL_NAMES: dict[int, str] = {
    0x30: "PDF417", 0x31: "QR", 0x32: "MAXICODE", 0x33: "GS1 DATABAR", 0x34: "AZTEC",
    0x35: "DATAMATRIX",
}


def barcode_text(symbology: str, data: bytes) -> str:
    """Readable barcode content: CODE128's code-set selectors (``{B`` ...) are not content."""
    if symbology == "CODE128" and len(data) >= 2 and data[:1] == b"{" and data[1:2] in b"ABC":
        out: list[str] = []
        code_c = data[1:2] == b"C"
        i = 2
        while i < len(data):
            if data[i : i + 1] == b"{" and i + 1 < len(data):
                sel = data[i + 1 : i + 2]
                if sel == b"{":
                    out.append("{")
                else:
                    code_c = sel == b"C"
                i += 2
                continue
            out.append(f"{data[i]:02d}" if code_c else chr(data[i]))
            i += 1
        return "".join(out)
    return data.decode("latin-1")


def symbol_text(data: bytes) -> str:
    """A stored 2D symbol's content: UTF-8 if it is, else one character per byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")

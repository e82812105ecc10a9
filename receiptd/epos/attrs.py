"""Reading an element's attributes as the ePOS-Print schema types them (``xs:boolean``,
unsigned byte and short, enumerations). A value outside its type is a ``SchemaError`` naming
the element and the attribute."""

from __future__ import annotations

from collections.abc import Collection

from receiptd.epos.errors import SchemaError
from receiptd.epos.xmltree import Node

_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def boolean(node: Node, name: str) -> bool | None:
    value = node.attrs.get(name)
    if value is None:
        return None
    try:
        return _BOOLS[value.strip()]
    except KeyError:
        raise SchemaError(f"<{node.name} {name}> must be true or false, not {value!r}") from None


def integer(node: Node, name: str, low: int, high: int) -> int | None:
    value = node.attrs.get(name)
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not low <= int(text) <= high:
        raise SchemaError(f"<{node.name} {name}> must be a whole number {low}..{high}, "
                          f"not {value!r}")
    return int(text)


def choice(node: Node, name: str, allowed: Collection[str]) -> str | None:
    value = node.attrs.get(name)
    if value is None:
        return None
    if value.strip() not in allowed:
        raise SchemaError(f"<{node.name} {name}> must be one of {', '.join(sorted(allowed))}, "
                          f"not {value!r}")
    return value.strip()


def unescape(data: str, where: str) -> str:
    """Barcode and symbol data: ``\\xnn`` is the byte nn, ``\\\\`` a backslash."""
    out: list[str] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == "\\" and data[i + 1:i + 2] == "\\":
            out.append("\\")
            i += 2
        elif c == "\\" and data[i + 1:i + 2] == "x":
            digits = data[i + 2:i + 4]
            if len(digits) != 2 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise SchemaError(f"<{where}> data has a bad escape {data[i:i + 4]!r}")
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(c)
            i += 1
    return "".join(out)

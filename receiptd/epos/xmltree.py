"""Reading untrusted XML safely: a small element tree built straight from expat.

A POS page on the shop's network posts this XML, so nothing in it may cost more than its own
size: a document type declaration is refused outright (no DTD means no entity definitions, so
no "billion laughs" expansion and no external entity that would read a file or a URL), and the
number of elements and their nesting depth are bounded. The body's size is bounded by the
HTTP layer (``[daemon] max_body_bytes``) before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from receiptd.epos.errors import SchemaError

#: More than any real receipt needs (an image receipt has 3, a long text receipt a few
#: hundred), small enough that a flood of empty elements costs little memory.
MAX_ELEMENTS = 20_000
MAX_DEPTH = 16
MAX_TEXT_CHARS = 8 * 1024 * 1024  # character data in all; base64 images are most of it


@dataclass
class Node:
    """One element: its namespace and local name, attributes (unqualified names as written),
    character data directly inside it, and its children in order."""

    ns: str
    name: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Node] = field(default_factory=list)


def _refuse(what: str) -> NoReturn:
    raise SchemaError(f"{what} are not accepted in an ePOS-Print request")


class _Builder:
    def __init__(self) -> None:
        self.root: Node | None = None
        self.stack: list[Node] = []
        self.parts: list[list[str]] = []
        self.elements = 0
        self.chars = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise SchemaError(f"more than {MAX_ELEMENTS} elements")
        if len(self.stack) >= MAX_DEPTH:
            raise SchemaError(f"elements nested deeper than {MAX_DEPTH}")
        ns, _, local = name.rpartition(" ")
        plain = {k.rpartition(" ")[2]: v for k, v in attrs.items()}
        node = Node(ns, local, plain)
        if self.stack:
            self.stack[-1].children.append(node)
        elif self.root is None:
            self.root = node
        self.stack.append(node)
        self.parts.append([])

    def end(self, name: str) -> None:
        node = self.stack.pop()
        node.text = "".join(self.parts.pop())

    def data(self, text: str) -> None:
        self.chars += len(text)
        if self.chars > MAX_TEXT_CHARS:
            raise SchemaError(f"more than {MAX_TEXT_CHARS} characters of text")
        if self.parts:
            self.parts[-1].append(text)


def parse(data: bytes) -> Node:
    """The root element of ``data``; ``SchemaError`` for anything not plainly well-formed XML
    without a DTD, within the bounds above."""
    builder = _Builder()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def doctype(*_: object) -> None:
        _refuse("document type declarations (DTDs)")

    def entity(*_: object) -> None:
        _refuse("entity declarations")

    def external(*_: object) -> int:
        _refuse("external entities")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SchemaError(f"not well-formed XML: {expat.ErrorString(exc.code)} "
                          f"(line {exc.lineno}, column {exc.offset})") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH comes first
        raise SchemaError("elements nested too deeply") from None
    if builder.root is None:
        raise SchemaError("no element")
    return builder.root

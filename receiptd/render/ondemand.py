"""Modules that libraries import and a receipt seldom uses, imported when first used.

``OnFirstUse`` stands in ``sys.modules`` for a module that is not imported yet: an ``import``
of it gets the stand-in, and the first name asked of it imports the module itself (the
stand-in then leaves ``sys.modules``; every later name is passed on). ``importlib.util``'s
``LazyLoader`` would not do: the ``import`` statement reads the module's ``__spec__``, which
makes a lazy module load at once.

``defer_drawing()``: Pillow's drawing and fonts (``PIL.ImageDraw``, ``PIL.ImageFont`` and
FreeType under it) are imported by qrcode (its PIL module drawers, kept for backward
compatibility) and python-barcode (its image writer) as soon as they are imported, and so is
the XML DOM python-barcode's SVG writer builds on (``xml.dom.minidom``); none of them draws
anything for a receipt whose codes the printer draws itself and whose text it prints: 1.9 MB
after the first receipt (bench/memory.py). Glyphs drawn for characters the printer lacks,
images of codes, and those libraries' writers import them then.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["OnFirstUse", "defer_drawing", "deferred", "stand_in"]

DRAWING = ("PIL.ImageDraw", "PIL.ImageFont", "xml.dom.minidom")


class OnFirstUse(types.ModuleType):
    """A module imported when one of its names is first asked for."""

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def stand_in(name: str) -> OnFirstUse | None:
    """A stand-in for ``name`` in ``sys.modules`` (and as its package's attribute, where the
    package is imported); None (nothing done) if the module is imported already."""
    if name in sys.modules:
        return None
    module = sys.modules[name] = OnFirstUse(name)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


@contextlib.contextmanager
def deferred(*names: str) -> Iterator[None]:
    """Stand in for ``names`` while the block imports what imports them; afterwards the stand-ins
    not used leave ``sys.modules`` (whoever imports those modules later gets the modules
    themselves), and the modules that kept one import the real module on first use."""
    stand_ins = [(name, stand_in(name)) for name in names]
    try:
        yield
    finally:
        for name, module in stand_ins:
            if module is not None and sys.modules.get(name) is module:
                del sys.modules[name]


def defer_drawing() -> None:
    """Stand in for Pillow's drawing modules until something draws (see above)."""
    for package in ("PIL", "xml.dom"):  # the packages themselves: a few names, nothing more
        importlib.import_module(package)
    for name in DRAWING:
        stand_in(name)

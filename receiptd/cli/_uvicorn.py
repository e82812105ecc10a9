"""uvicorn's command line, left out of the daemon until something asks for it.

``import uvicorn`` runs ``from uvicorn.main import Server, main, run``, and ``uvicorn.main``
is uvicorn's own command line: it imports click, and its process supervisors import
``multiprocessing``. The daemon serves with ``uvicorn.Config`` and ``uvicorn.Server`` only;
the command line costs it about 1.5 MB idle (bench/memory.py). ``receiptd.cli`` installs the
stand-in below for ``uvicorn.main`` before uvicorn is first imported: it hands over
``Server`` (from ``uvicorn.server``, where uvicorn defines it), and ``main`` and ``run`` as
functions that import the real module when called; any other name imports the real module
too, so a uvicorn that asks this module for more still gets it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["install"]

NAME = "uvicorn.main"


def _real() -> types.ModuleType:
    """The real ``uvicorn.main``, imported now if it was not yet (the stand-in leaves)."""
    if isinstance(sys.modules.get(NAME), _Main):
        del sys.modules[NAME]
    package = sys.modules.get("uvicorn")
    kept = getattr(package, "main", None)
    module = importlib.import_module(NAME)
    if package is not None and kept is not None:
        setattr(package, "main", kept)  # noqa: B010  # importing the submodule rebinds it
    return module


def main(*args: Any, **kwargs: Any) -> Any:
    """``uvicorn.main``: uvicorn's command line."""
    return _real().main(*args, **kwargs)


def run(*args: Any, **kwargs: Any) -> Any:
    """``uvicorn.run``."""
    return _real().run(*args, **kwargs)


class _Main(types.ModuleType):
    main: Any
    run: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # what the import system asks a module (`__path__`)
            raise AttributeError(name)
        if name == "Server":
            from uvicorn.server import Server

            return Server
        return getattr(_real(), name)


def install() -> bool:
    """Put the stand-in in place, unless uvicorn is imported already. True if installed."""
    if "uvicorn" in sys.modules or NAME in sys.modules:
        return False
    stand_in = _Main(NAME)
    stand_in.main = main
    stand_in.run = run
    sys.modules[NAME] = stand_in
    return True

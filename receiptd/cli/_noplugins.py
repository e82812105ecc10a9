"""Pydantic's plugin loader, stood in for in the processes ``receiptd`` starts.

Pydantic looks for plugins (the ``pydantic`` entry point group) when it builds its first
validator, and the module that looks imports ``importlib.metadata``, which brings ``zipfile``,
``csv``, ``shutil`` with its compressors, ``importlib.resources`` and ``tempfile``: about
0.6 MB of an idle daemon's memory (bench/memory.py), for a lookup that finds nothing in a
receipt daemon. This module answers pydantic's one question, which plugins to run, with none:
what ``PYDANTIC_DISABLE_PLUGINS=__all__`` answers, without the import. ``receiptd.cli``
installs it before anything builds a pydantic model (tests/cli/test_lean_cli.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["get_plugins", "install"]

LOADER = "pydantic.plugin._loader"


def get_plugins() -> tuple[Any, ...]:
    """No plugins, for every validator pydantic builds."""
    return ()


def install() -> bool:
    """Stand in for pydantic's loader unless it is already imported, or the environment names
    the plugins to leave out (``PYDANTIC_DISABLE_PLUGINS=a,b``: whoever set that runs
    plugins, and pydantic's own loader finds them). True if installed."""
    wanted = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    if LOADER in sys.modules or wanted not in (None, "", "__all__", "1", "true"):
        return False
    sys.modules[LOADER] = sys.modules[__name__]
    return True

"""The one door to python-escpos: import it from here, never directly.

Importing ``escpos.capabilities`` has side effects that a daemon must not inherit
(``docs/PROTOCOL.md``, "python-escpos 3.1 pitfalls"):

* it calls ``logging.basicConfig()``, which installs a root handler and would make every
  structlog/stdlib log line appear twice;
* it writes a pickle of its capabilities database to ``ESCPOS_CAPABILITIES_PICKLE_DIR``, or
  to a fresh ``mkdtemp()`` directory on every start (and the default argument of its
  ``environ.get`` is evaluated even when the variable *is* set, so a stray empty temp
  directory appears per process regardless);
* it later *loads* that pickle: the directory must be ours and not writable by others, or
  anyone who can write there can run code in the daemon.

So, before the first import, we point the pickle at a private cache directory, keep
``mkdtemp`` from running, and remove whatever root handler the import added.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

ENV_PICKLE_DIR = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def _private_dir(path: str) -> bool:
    """Create ``path`` (mode 0700) if needed; true if it is ours and closed to others."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and os.access(path, os.W_OK)


def cache_dir() -> str:
    """The directory python-escpos keeps its capabilities pickle in.

    ``$XDG_CACHE_HOME/receiptd/escpos`` (``~/.cache`` by default), else
    ``<tmp>/receiptd-<uid>/escpos``, else a fresh private temp directory.
    """
    candidates = []
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if os.path.isabs(xdg):
        candidates.append(os.path.join(xdg, "receiptd", "escpos"))
    candidates.append(os.path.join(tempfile.gettempdir(), f"receiptd-{os.getuid()}", "escpos"))
    for path in candidates:
        parent = os.path.dirname(path)
        if _private_dir(parent) and _private_dir(path):
            return path
    return tempfile.mkdtemp(prefix="receiptd-escpos-")


def _import_escpos() -> None:
    if not os.environ.get(ENV_PICKLE_DIR):
        os.environ[ENV_PICKLE_DIR] = cache_dir()
    else:  # given by the caller (systemd's CacheDirectory, tests): it may not exist yet
        os.makedirs(os.environ[ENV_PICKLE_DIR], mode=0o700, exist_ok=True)
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    real_mkdtemp: Callable[..., str] = tempfile.mkdtemp
    pickle_dir = os.environ[ENV_PICKLE_DIR]
    # capabilities.py does `from tempfile import mkdtemp` and calls it while evaluating a
    # default argument; hand it our directory instead of creating a stray one.
    setattr(tempfile, "mkdtemp", lambda *a, **k: pickle_dir)  # noqa: B010
    try:
        import escpos.capabilities  # noqa: F401
    finally:
        setattr(tempfile, "mkdtemp", real_mkdtemp)  # noqa: B010
        for handler in list(root.handlers):
            if handler not in handlers_before:
                root.removeHandler(handler)
        root.setLevel(level_before)


_import_escpos()

from escpos import constants  # noqa: E402
from escpos.capabilities import CAPABILITIES as _CAPABILITIES  # noqa: E402
from escpos.magicencode import Encoder  # noqa: E402

if TYPE_CHECKING:
    from escpos.printer import Dummy

CAPABILITIES: dict[str, Any] = _CAPABILITIES


def __getattr__(name: str) -> Any:
    """``Dummy`` on first use: ``escpos.printer`` imports PIL, qrcode, python-barcode, pyusb
    and pyserial, which a daemon that has not rendered a receipt yet does not need."""
    if name == "Dummy":
        from escpos.printer import Dummy

        globals()["Dummy"] = Dummy
        return Dummy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["CAPABILITIES", "Dummy", "Encoder", "cache_dir", "constants"]

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

``escpos.capabilities`` also imports PyYAML, for the one case where it parses the database
itself (no fresh pickle: a database of one's own in YAML). It is handed a stand-in
(``render.ondemand``) that imports it on first use: PyYAML is imported only if that parse
happens, and otherwise never enters the daemon (0.8 MB after the first receipt,
bench/memory.py).

The pickle is also written here, from the database read as JSON, unless the one there was made
here from the same file: python-escpos would parse the file with PyYAML, which leaves about
2.4 MB more resident in the daemon than loading the pickle does (bench/memory.py, on a fresh
cache: the first start after an install or an upgrade). The file is JSON, and PyYAML reads
it into the same data as the standard library's parser does (tests/render/test_lean_render.py
compares them); a database of one's own in YAML (``ESCPOS_CAPABILITIES_FILE``) is left to
python-escpos.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import platform
import stat
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from receiptd.render import capabilities, ondemand

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


def pickle_path(pickle_dir: str) -> str:
    """The file python-escpos keeps its pickled database in (it names it so)."""
    return os.path.join(pickle_dir, f"{platform.python_version()}.capabilities.pickle")


def prime_pickle(pickle_dir: str) -> bool:
    """Write python-escpos's pickle of its database, read as JSON, unless the one there was
    written here from this very database (path, size and time, in a stamp file beside it).
    True if written.

    python-escpos itself takes any pickle newer than the database file, even one made from
    another file (``ESCPOS_CAPABILITIES_FILE`` changed): the stamp catches that too. A
    database that is not JSON is left to python-escpos, and a pickle not made from it is
    removed first, so python-escpos reads the file rather than the wrong pickle."""
    source = capabilities.database_path()
    target = pickle_path(pickle_dir)
    stamp_path = target + ".source"
    try:
        st = source.stat()
    except OSError:
        return False  # python-escpos will say what is missing
    stamp = json.dumps({"source": str(source.resolve()), "size": st.st_size,
                        "mtime_ns": st.st_mtime_ns})
    try:
        with open(stamp_path, encoding="utf-8") as fh:
            fresh = fh.read() == stamp and os.path.getmtime(target) >= st.st_mtime
    except OSError:
        fresh = False
    if fresh:
        return False
    try:
        with source.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):  # not JSON: python-escpos reads it with PyYAML itself
        for stale in (target, stamp_path):
            with contextlib.suppress(OSError):
                os.unlink(stale)
        return False
    try:
        _write_atomically(target, pickle.dumps(data, protocol=2))  # python-escpos's protocol
        _write_atomically(stamp_path, stamp.encode())
    except OSError:
        return False
    return True


def _write_atomically(path: str, data: bytes) -> None:
    """Whole or not at all, for a process reading it at the same moment."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".capabilities-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
    prime_pickle(pickle_dir)
    # capabilities.py does `from tempfile import mkdtemp` and calls it while evaluating a
    # default argument; hand it our directory instead of creating a stray one.
    setattr(tempfile, "mkdtemp", lambda *a, **k: pickle_dir)  # noqa: B010
    try:
        with ondemand.deferred("yaml"):  # parses only a database of one's own in YAML
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
    from escpos.escpos import Escpos

    Dummy = Escpos

CAPABILITIES: dict[str, Any] = _CAPABILITIES


def _dummy() -> type[Escpos]:
    ondemand.defer_drawing()  # python-barcode's image writer: Pillow's drawing on first use
    from escpos.escpos import Escpos

    class Dummy(Escpos):  # type: ignore[misc]  # python-escpos has no type information
        """python-escpos's command builder writing into a list of byte strings: what its
        own ``escpos.printer.Dummy`` does, without importing ``escpos.printer``, whose
        package loads every printer driver (pyusb, pyserial, CUPS, LP, network: 0.6 MB)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._output_list: list[bytes] = []

        def _raw(self, msg: bytes) -> None:
            self._output_list.append(msg)

        @property
        def output(self) -> bytes:
            return b"".join(self._output_list)

    return Dummy


def __getattr__(name: str) -> Any:
    """``Dummy`` on first use: ``escpos.escpos`` imports PIL, qrcode and python-barcode,
    which a daemon that has not rendered a receipt yet does not need."""
    if name == "Dummy":
        globals()["Dummy"] = dummy = _dummy()
        return dummy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["CAPABILITIES", "Dummy", "Encoder", "cache_dir", "constants", "pickle_path",
           "prime_pickle"]

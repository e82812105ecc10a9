"""python-escpos's printer database, read without importing python-escpos.

A profile needs a few facts about its printer model (paper width, font columns, code pages,
features) long before anything is rendered: the config is checked at start. Importing
``escpos.capabilities`` for them costs 4.6 MB of resident memory (PyYAML, importlib
helpers, a pickle of the database) and its side effects must be tamed (``render.escpos``);
the database itself is a 100 KB JSON file inside the package. So the facts come from that
file, read once with the standard library; python-escpos itself is imported by the first
rendering, through ``render.escpos``.

The file is the one python-escpos reads: ``ESCPOS_CAPABILITIES_FILE`` when set (as
python-escpos honours it), else ``capabilities.json`` next to its modules. python-escpos
parses it as YAML, of which JSON is a subset, so both read the same data.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

ENV_FILE = "ESCPOS_CAPABILITIES_FILE"


def database_path() -> Path:
    """Where python-escpos keeps its capabilities database, found without importing it."""
    override = os.environ.get(ENV_FILE)
    if override:
        return Path(override)
    spec = importlib.util.find_spec("escpos")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python-escpos is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "capabilities.json"


@functools.cache
def profiles() -> dict[str, dict[str, Any]]:
    """Every python-escpos profile by name: its ``vendor``, ``fonts``, ``features``,
    ``codePages`` and ``media`` as python-escpos states them."""
    with database_path().open(encoding="utf-8") as fh:
        data = json.load(fh)
    keep = ("vendor", "name", "fonts", "features", "codePages", "media")
    return {name: {k: entry[k] for k in keep if k in entry}
            for name, entry in data.get("profiles", {}).items()}


__all__ = ["ENV_FILE", "database_path", "profiles"]

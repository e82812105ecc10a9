"""Print ``name==version`` for receiptd's runtime dependencies, closed transitively, as
installed in the running environment (the tested .venv): the boot test installs exactly these
into its container. Extras (``[dev]``) and requirements whose markers do not apply are left out.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(root: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    todo = [(root, frozenset[str]())]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
        for line in dist.requires or []:
            req = Requirement(line)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker and not any(req.marker.evaluate(env) for env in envs):
                continue
            key = canonicalize_name(req.name)
            if key in pins:
                continue
            pins[key] = metadata.version(req.name)
            todo.append((req.name, frozenset(req.extras)))
    return pins


if __name__ == "__main__":
    for key, version in sorted(closure(sys.argv[1] if len(sys.argv) > 1 else "receiptd").items()):
        print(f"{key}=={version}")

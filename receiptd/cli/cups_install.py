"""``receiptd-cups-backend install``: put the backend where cupsd looks for it.

cupsd runs ``<ServerBin>/backend/<scheme>`` for a queue whose device URI has that scheme, so the
backend is installed as ``/usr/lib/cups/backend/receiptd``: a three-line script that runs
this package's backend with the Python it is installed in. cupsd refuses backends a non-root
user could change, so the script is root's and not writable by others; its mode chooses the
user cupsd runs it as. 0755 (world-executable) runs it as ``lp``, the least privilege, and is
chosen when ``lp`` can run this Python; 0700 runs it as root, for a Python ``lp`` cannot
read (a virtualenv under /root, say).

The backend's config (``/etc/receiptd/cups.toml``: receiptd's URL and a ``pos`` token) is
written only if it is missing, ``root:lp`` mode 0640, so ``lp`` reads the token and no other
user does.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from receiptd.cli.cups_config import CONFIG_ENV, DEFAULT_CONFIG, DEFAULT_URL

DEFAULT_DIR = "/usr/lib/cups/backend"
CUPS_USER = "lp"


def wrapper(python: str, config: str) -> str:
    lines = [f"#!{python} -I", "# receiptd's CUPS backend (receiptd-cups-backend install)",
             "import os, sys", "from receiptd.cli.cups import main"]
    if config != DEFAULT_CONFIG:
        lines.insert(3, f"os.environ.setdefault({CONFIG_ENV!r}, {config!r})")
    return "\n".join([*lines, "sys.exit(main())", ""])


def lp_can_run(python: str) -> bool:
    """Can user lp start this Python and import the backend (its files readable to lp)?"""
    try:
        r = subprocess.run([python, "-I", "-c", "import receiptd.cli.cups"], user=CUPS_USER,
                           group=CUPS_USER, capture_output=True, timeout=60, cwd="/")
    except (OSError, subprocess.SubprocessError, KeyError, ValueError):
        return False
    return r.returncode == 0


def write_atomic(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_config(path: Path, url: str) -> bool:
    """Write a starting config if there is none; True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (f'url = "{url}"\n'
            '# A pos token (receiptctl token create cups pos); the API is open without one.\n'
            '# token = "..."\n')
    write_atomic(path, text, 0o640)
    # No lp group here, or not root: the mode still keeps other users out.
    with contextlib.suppress(KeyError, PermissionError):
        os.chown(path, 0, grp.getgrnam(CUPS_USER).gr_gid)
    return True


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="receiptd-cups-backend install",
                                description="Install the receiptd:// backend into CUPS.")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"CUPS backend directory ({DEFAULT_DIR})")
    p.add_argument("--run-as", choices=("auto", "lp", "root"), default="auto",
                   help="the user cupsd runs the backend as: lp (mode 0755) or root (0700); "
                   "auto: lp when lp can run this Python")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"the backend's config file ({DEFAULT_CONFIG})")
    p.add_argument("--url", default=DEFAULT_URL, help="receiptd's API, for a new config file")
    p.add_argument("--printer", default="front", help="the printer named in the lpadmin line")
    return p


def main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    python = sys.executable
    run_as = opts.run_as
    if run_as == "auto":
        run_as = "lp" if lp_can_run(python) else "root"
    target = Path(opts.dir) / "receiptd"
    try:
        write_atomic(target, wrapper(python, opts.config), 0o755 if run_as == "lp" else 0o700)
        wrote = write_config(Path(opts.config), opts.url)
    except OSError as exc:
        print(f"install failed: {exc} (run it as root)", file=sys.stderr)
        return 1
    print(f"installed {target} (cupsd runs it as {run_as})")
    print(f"{'wrote' if wrote else 'kept'} {opts.config}: receiptd's URL and token for the "
          "backend")
    print("add a queue:")
    print(f"  lpadmin -p {opts.printer} -E -v receiptd://{opts.printer} -m raw")
    return 0

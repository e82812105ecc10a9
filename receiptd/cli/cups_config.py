"""What the CUPS backend needs to know before it can hand a job to receiptd: which printer
(from the queue's device URI) and how to reach the daemon (from a small config file).

The token lives in the config file, never in the device URI: ``lpstat -v`` shows every queue's
URI to every local user. The file must be readable by the user CUPS runs the backend as
(``lp``, or root when the backend is installed mode 0700): ``root:lp``, mode 0640.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

#: Where the backend reads its config unless ``RECEIPTD_CUPS_CONFIG`` names another file.
DEFAULT_CONFIG = "/etc/receiptd/cups.toml"
CONFIG_ENV = "RECEIPTD_CUPS_CONFIG"
DEFAULT_URL = "http://127.0.0.1:8631"
SCHEME = "receiptd"
#: A printer name as receiptd's config allows it (receiptd.config).
_PRINTER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_KEYS = {"url", "token", "unix_socket", "server_id"}


class SetupError(Exception):
    """The queue or the backend's config is wrong: no job can print until an admin fixes it."""


@dataclass(frozen=True)
class Device:
    """``receiptd://NAME`` or ``receiptd://NAME?url=http://HOST:PORT``."""

    printer: str
    url: str | None = None


@dataclass(frozen=True)
class BackendConfig:
    url: str = DEFAULT_URL
    token: str | None = None
    unix_socket: str | None = None
    #: Names this CUPS server in idempotency keys (default: the host name), so two cupsd
    #: feeding one daemon, or one whose job ids restarted, never share a key.
    server_id: str | None = None


def parse_device_uri(uri: str) -> Device:
    parts = urlsplit(uri)
    if parts.scheme != SCHEME:
        raise SetupError(f"device URI {uri!r} is not {SCHEME}://PRINTER")
    printer = unquote(parts.netloc or parts.path.lstrip("/"))
    if not _PRINTER.fullmatch(printer):
        raise SetupError(f"device URI {uri!r}: {printer!r} is not a receiptd printer name "
                         "(lower-case letters, digits, '_', '-')")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"url"}
    if unknown:
        raise SetupError(f"device URI {uri!r}: unknown option(s) {', '.join(sorted(unknown))} "
                         "(only url=)")
    url = query.get("url", [None])[-1]
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise SetupError(f"device URI {uri!r}: url= must be http://HOST:PORT")
    return Device(printer=printer, url=url or None)


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path) -> BackendConfig:
    """The backend's config; all defaults when the file does not exist (a daemon on this
    machine with its API open). A file that exists but cannot be read or parsed is an error:
    printing without the token it holds would only fail later, less clearly."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return BackendConfig()
    except OSError as exc:
        raise SetupError(f"cannot read {path} as uid {os.geteuid()}: {exc.strerror} "
                         "(make it root:lp, mode 0640)") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SetupError(f"{path}: {exc}") from exc
    unknown = set(data) - _KEYS
    if unknown:
        raise SetupError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(_KEYS))})")
    for key, value in data.items():
        if not isinstance(value, str) or not value:
            raise SetupError(f"{path}: {key} must be a non-empty string")
    return BackendConfig(
        url=data.get("url", DEFAULT_URL), token=data.get("token"),
        unix_socket=data.get("unix_socket"), server_id=data.get("server_id"),
    )

"""Configuration: one TOML file, validated at start, overridable from the command line.

Unknown keys are rejected and every error names the full key path (``printers.front.url``),
so a typo in ``/etc/receiptd/receiptd.toml`` stops the daemon with a message that says where.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from receiptd.errors import ConfigError

#: ``pos < cashier < admin``; ``metrics`` stands apart: it may read ``/metrics`` and nothing
#: else, so a Prometheus server's token opens no receipt and no printer.
ROLES = ("metrics", "pos", "cashier", "admin")
Role = Literal["metrics", "pos", "cashier", "admin"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonConfig(_Strict):
    journal: Path = Field(Path("/var/lib/receiptd/journal.db"), description="SQLite journal file")
    listen: str | None = Field("127.0.0.1:8631", description="HOST:PORT for HTTP; empty = off")
    unix_socket: Path | None = Field(None, description="Unix socket path for the API")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    wire_log: bool = Field(False, description="log every byte to and from printers (debug)")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    cors_origins: tuple[str, ...] = ()
    journal_reserve_bytes: int = Field(
        16 * 1024 * 1024, ge=0,
        description="refuse new receipts (503) when the journal's disk has less free space, "
        "so queued receipts can still be printed and recorded",
    )
    system_fonts: bool = Field(
        True, description="draw characters the printer lacks in the machine's fonts too "
        "(fontconfig), not only in the font receiptd ships; false: the same output on every "
        "machine",
    )
    epos: bool = Field(
        False, description="serve Epson ePOS-Print XML at /cgi-bin/epos/service.cgi "
        "(clients send no token: they get the pos role, from epos_allow addresses only)",
    )
    epos_allow: tuple[str, ...] = Field(
        ("127.0.0.0/8", "::1/128"),
        description="networks (CIDR) ePOS-Print requests are accepted from",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (), description="addresses or networks (CIDR) of the reverse proxies in front of the "
        "API (a TLS proxy on this box: [\"127.0.0.1\", \"::1\"]); only a connection from one "
        "of them may say who the client is (X-Forwarded-For, its right-most address not "
        "listed here) and that it came over HTTPS (X-Forwarded-Proto); empty = those headers "
        "are ignored from everyone",
    )

    @field_validator("epos_allow")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(proxy_network(entry) for entry in value)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if not value:
            return None
        parse_listen(value)
        return value


class RetentionConfig(_Strict):
    days: float = Field(90.0, ge=0, description="purge printed receipts older than this; 0 = keep")
    max_bytes: int = Field(0, ge=0, description="purge oldest printed receipts above this size")
    interval_s: float = Field(600.0, gt=0)


#: The profile of a Star printer whose config names none.
STAR_DEFAULT_PROFILE = "TSP600"
ESCPOS_DEFAULT_PROFILE = "TM-T88V"


def default_profile(dialect: str) -> str:
    """The profile of a printer whose config names none, until its identity says more."""
    return STAR_DEFAULT_PROFILE if dialect == "star" else ESCPOS_DEFAULT_PROFILE


class PrinterConfig(_Strict):
    url: str = Field(description="tcp://HOST:PORT, serial:///dev/ttyUSB0?baudrate=38400, usb://VID:PID")
    profile: str = Field(ESCPOS_DEFAULT_PROFILE, description="printer profile name")
    dialect: Literal["escpos", "star"] = Field(
        "escpos", description="the printer's command language: escpos (Epson and its "
        "emulations) or star (Star Line Mode; prints are proven by its ETB counter)",
    )
    profile_overrides: dict[str, Any] = Field(
        default_factory=dict, description="profile fields to change for this printer"
    )
    roll_length_m: float | None = Field(None, gt=0, description="paper per roll, for estimates")
    poll_interval_s: float = Field(0.5, gt=0.05, le=10)
    offline_after_s: float = Field(1.3, gt=0.2, le=60)
    write_timeout_s: float = Field(5.0, gt=0.1, le=120)
    confirm_timeout_s: float = Field(20.0, gt=1, le=600, description="base wait for the process ID")
    send_window_prints: int = Field(
        1, ge=1, le=32,
        description="prints unconfirmed at once: more send the next receipts while earlier ones "
        "await their process IDs; 1 = one at a time (status-confirmed printers always are)",
    )
    send_window_bytes: int = Field(
        4096, ge=64, le=1024 * 1024,
        description="unconfirmed bytes in flight; at most the printer's receive buffer",
    )
    max_paper_mm: float = Field(
        3000.0, ge=100, le=1_000_000,
        description="refuse (422 too_much_paper) a receipt estimated to need more paper than "
        "this, in mm; every feed, line, image and cut counts",
    )
    max_print_attempts: int = Field(
        5, ge=1, le=100,
        description="interrupted attempts in a row after which a print is held for a person "
        "(a cashier's reprint or an admin's recover releases it) instead of being retried",
    )
    hold_after_s: float = Field(
        0.0, ge=0, le=7 * 24 * 3600,
        description="a print that waited longer than this through a printer fault is held "
        "when the fault clears, for a cashier to print (marked DELAYED) or leave, instead of "
        "coming out long after the customer left; 0 = off (kitchen and order printers want "
        "every ticket, however late)",
    )
    virtual_port: str | None = Field(
        None, description="HOST:PORT where unmodified POS apps print raw ESC/POS to this "
        "printer as if it were the printer (AppSocket, 'port 9100'); empty = off",
    )
    virtual_port_idle_s: float = Field(
        2.0, gt=0.05, le=60,
        description="a virtual-port job ends when its connection closes, or after this long "
        "without a byte",
    )
    resend_window_s: float = Field(
        10.0, ge=0, le=3600,
        description="a virtual-port job byte-identical to one accepted this recently on the "
        "same port is journaled as a resend, not printed again; 0 = off",
    )

    @field_validator("virtual_port")
    @classmethod
    def _virtual_port(cls, value: str | None) -> str | None:
        if not value:
            return None
        parse_listen(value)
        return value

    @model_validator(mode="after")
    def _star(self) -> PrinterConfig:
        if self.dialect != "star":
            return self
        if self.virtual_port:
            raise ValueError("virtual_port: a virtual port takes raw ESC/POS, which a printer "
                             "with dialect = \"star\" does not speak")
        if self.send_window_prints > STAR_WINDOW_PRINTS:
            raise ValueError(f"send_window_prints: at most {STAR_WINDOW_PRINTS} for a printer "
                             "with dialect = \"star\" (its ETB counter wraps at 32)")
        return self

    @property
    def profile_name(self) -> str:
        """The profile the config names, else the default for its dialect: ``TM-T88V`` for
        ESC/POS, ``TSP600`` (80 mm, Star's code pages) for Star. Until the printer's identity
        says otherwise (``receiptd.printer.selfconfig``)."""
        return self.profile if "profile" in self.model_fields_set else default_profile(
            self.dialect)


class TokenConfig(_Strict):
    name: str
    role: Role
    secret: str = Field(min_length=8)


class Config(_Strict):
    daemon: DaemonConfig = DaemonConfig()
    retention: RetentionConfig = RetentionConfig()
    printers: dict[str, PrinterConfig] = {}
    profiles: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="custom profiles: base = a built-in one, + overrides"
    )
    tokens: tuple[TokenConfig, ...] = ()

    @field_validator("printers")
    @classmethod
    def _names(cls, value: dict[str, PrinterConfig]) -> dict[str, PrinterConfig]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"printer name {name!r}: use a-z, 0-9, '_' or '-' (max 32)")
        return value

    @model_validator(mode="after")
    def _printer_profiles(self) -> Config:
        # Resolved here so that a bad profile stops the daemon at start, naming its key.
        from receiptd.render.profiles import resolve_profile, with_dialect

        for name, printer in self.printers.items():
            profile = resolve_profile(printer.profile_name, printer.profile_overrides,
                                      self.profiles, where=f"printers.{name}")
            if printer.dialect != "escpos" and profile.dialect == "escpos":
                # A Star printer needs a Star profile (its code pages are Star's numbers).
                with_dialect(profile, printer.dialect, where=f"printers.{name}")
        return self


def proxy_network(entry: str) -> str:
    """A ``trusted_proxies`` entry as its canonical address or network (``10.0.0.0/24``).

    Anything else is refused here, at start: the web server would take an entry it cannot
    parse as a name no connection ever has (``*`` would trust everyone), and a network
    written with host bits (``10.0.0.5/24``) as such a name too, silently trusting nobody.
    """
    text = entry.strip()
    hint = "expected an IP address (127.0.0.1, ::1) or a network in CIDR form (10.0.0.0/24)"
    try:
        if "/" not in text:
            return str(ipaddress.ip_address(text))
        return str(ipaddress.ip_network(text))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"trusted proxy {entry!r}: {hint}") from None
    raise ValueError(f"trusted proxy {entry!r} has host bits set: write the network as "
                     f"{network}, or the one address without a prefix length")


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"listen address {value!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top)"
        lines.append(f"{path}: {item['msg']}")
    return "; ".join(lines)


def build_config(data: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_describe(exc)}") from exc


def load_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc


def load_config(
    path: Path | None = None,
    *,
    journal: Path | None = None,
    listen: str | None = None,
    unix_socket: Path | None = None,
    printers: Iterable[str] = (),
    tokens: Iterable[str] = (),
    virtual_printers: Iterable[str] = (),
    epos: bool | None = None,
) -> Config:
    """Read the file (if any) and apply command-line overrides.

    ``printers`` are ``NAME=URL`` (added, or replacing the URL of a configured printer); the
    URL's query may also set ``profile``, ``double_byte`` and ``dialect`` (``escpos`` or
    ``star``);
    ``tokens`` are ``ROLE:SECRET`` (a token named after its role) or ``NAME:ROLE:SECRET``;
    ``virtual_printers`` are ``NAME=HOST:PORT`` (a virtual port for a configured printer).
    """
    data: dict[str, Any] = load_file(path) if path else {}
    daemon = dict(data.get("daemon", {}))
    if journal is not None:
        daemon["journal"] = str(journal)
    if listen is not None:
        daemon["listen"] = listen
    if unix_socket is not None:
        daemon["unix_socket"] = str(unix_socket)
    if epos is not None:
        daemon["epos"] = epos
    data["daemon"] = daemon
    configured = dict(data.get("printers", {}))
    for item in printers:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise ConfigError(f"--printer {item!r}: expected NAME=URL")
        url, options = _printer_options(item, url)
        entry = dict(configured.get(name, {}))
        entry["url"] = url
        if "profile" in options:
            entry["profile"] = options["profile"]
        if "dialect" in options:
            entry["dialect"] = options["dialect"]
        if "double_byte" in options:
            entry["profile_overrides"] = {**entry.get("profile_overrides", {}),
                                          "double_byte": options["double_byte"]}
        if options:
            _check_printer_profile(item, entry, data.get("profiles"))
        configured[name] = entry
    for item in virtual_printers:
        name, sep, address = item.partition("=")
        if not sep or not address:
            raise ConfigError(f"--virtual-printer {item!r}: expected NAME=HOST:PORT")
        if name not in configured:
            raise ConfigError(f"--virtual-printer {item!r}: no printer named {name!r}")
        configured[name] = {**configured[name], "virtual_port": address}
    data["printers"] = configured
    token_list = list(data.get("tokens", []))
    for item in tokens:
        parts = item.split(":", 2)
        if len(parts) == 2:
            parts = [parts[0], *parts]
        if len(parts) != 3 or parts[1] not in ROLES:
            raise ConfigError(f"--token {item!r}: expected ROLE:SECRET or NAME:ROLE:SECRET")
        token_list.append({"name": parts[0], "role": parts[1], "secret": parts[2]})
    data["tokens"] = token_list
    return build_config(data)


#: Printer settings a ``--printer`` URL may carry in its query, next to the link's own keys.
PRINTER_URL_KEYS = ("profile", "double_byte", "dialect")
DIALECTS = ("escpos", "star")
#: A Star printer proves prints by a 5-bit ETB counter shared with the session's flow marks
#: (``printer.etb``): at most this many prints may await it at once.
STAR_WINDOW_PRINTS = 12


def _printer_options(item: str, url: str) -> tuple[str, dict[str, str]]:
    """Split ``--printer``'s URL into the link's URL and the printer-level settings.

    Only whole ``key=value`` parts named in ``PRINTER_URL_KEYS`` are taken out; the link's own
    parts stay as written, so ``serial:///dev/ttyUSB0?baudrate=38400&profile=TM-T20II`` hands
    ``serial:///dev/ttyUSB0?baudrate=38400`` to the link. One line then sets up a printer a
    config file would need a section for (a Chinese model's double-byte mode above all).
    """
    base, sep, query = url.partition("?")
    fragment = ""
    if "#" in query:  # left to the link's parser, which refuses fragments with its own words
        query, _, fragment = query.partition("#")
        fragment = "#" + fragment
    if not sep:
        return url, {}
    kept: list[str] = []
    options: dict[str, str] = {}
    for part in query.split("&"):
        key, _, value = part.partition("=")
        key, value = unquote_plus(key), unquote_plus(value)
        if key not in PRINTER_URL_KEYS:
            kept.append(part)
            continue
        if key in options:
            raise ConfigError(f"--printer {item!r}: {key} given twice")
        if not value:
            raise ConfigError(f"--printer {item!r}: {key}= is empty")
        options[key] = value
    dialect = options.get("dialect", "escpos")
    if dialect not in DIALECTS:
        raise ConfigError(f"--printer {item!r}: dialect={dialect!r}: expected escpos or star")
    query = "&".join(kept)
    return base + ("?" + query if query else "") + fragment, options


def _check_printer_profile(item: str, entry: dict[str, Any], custom: Any) -> None:
    """Resolve the profile a ``--printer`` URL chose now, so its error names the item."""
    from receiptd.render.profiles import resolve_profile, with_dialect

    overrides = entry.get("profile_overrides", {})
    dialect = entry.get("dialect", "escpos")
    name = entry.get("profile", default_profile(dialect))
    if not isinstance(overrides, dict) or not isinstance(name, str):
        return  # the file's own mistake; validation names its key
    where = f"printers.{item.partition('=')[0]}"
    try:
        profile = resolve_profile(name, overrides, custom if isinstance(custom, dict) else {},
                                  where=where)
        if dialect != "escpos" and profile.dialect == "escpos":
            with_dialect(profile, dialect, where=where)
    except ConfigError as exc:
        raise ConfigError(f"--printer {item!r}: {exc}") from None


def effective(config: Config) -> dict[str, Any]:
    """The configuration as the daemon uses it, secrets masked (``receiptd config``)."""
    out = config.model_dump(mode="json")
    for token in out["tokens"]:
        token["secret"] = "***"
    return out

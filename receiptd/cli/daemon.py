"""``receiptd``: run the daemon, print the effective configuration, or find printers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import structlog

from receiptd import __version__
from receiptd import log as logging_setup
from receiptd.config import Config, effective, load_config
from receiptd.errors import ConfigError, JournalCorrupt, JournalUnavailable

EX_CONFIG = 78  # sysexits EX_CONFIG; the unit's RestartPreventExitStatus: do not loop on it


def _parser(discovering: bool = True) -> argparse.ArgumentParser:
    """The command line. ``discovering``: with ``discover``'s own options, whose module (the
    USB, serial and network probes) the other commands do not load."""
    parser = argparse.ArgumentParser(prog="receiptd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"receiptd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "run the daemon"), ("config", "print the effective config")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, help="TOML configuration file")
        p.add_argument("--journal", type=Path, help="journal file (overrides the config)")
        p.add_argument("--listen", help="HOST:PORT for HTTP, '' to disable")
        p.add_argument("--unix-socket", type=Path, help="Unix socket path for the API")
        p.add_argument("--printer", action="append", default=[], metavar="NAME=URL",
                       help="add or override a printer (repeatable); the URL may add "
                       "?profile=...&double_byte=...&dialect=escpos|star")
        p.add_argument("--token", action="append", default=[], metavar="[NAME:]ROLE:SECRET",
                       help="add an API token (repeatable)")
        p.add_argument("--virtual-printer", action="append", default=[],
                       metavar="NAME=HOST:PORT",
                       help="a virtual printer port for printer NAME: POS apps print raw "
                       "ESC/POS to it as to the printer (repeatable)")
        p.add_argument("--epos", action="store_true", default=None,
                       help="serve Epson ePOS-Print XML (/cgi-bin/epos/service.cgi)")
        p.add_argument("--log-format", choices=["auto", "json", "console"])
    p = sub.add_parser("journal-check", help="explain a journal file (read-only; no daemon "
                       "needed): exit 0 healthy, 3 damaged, 2 missing")
    p.add_argument("--journal", type=Path, help="journal file (default: the config's)")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p = sub.add_parser("discover", help="list the printers this machine can reach (USB, "
                       "serial, given network addresses) and print their config snippet")
    if discovering:
        from receiptd.cli import discover

        discover.add_arguments(p)
    return parser


def _load(args: argparse.Namespace) -> Config:
    return load_config(
        args.config, journal=args.journal, listen=args.listen, unix_socket=args.unix_socket,
        printers=args.printer, tokens=args.token, virtual_printers=args.virtual_printer,
        epos=args.epos,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The command is the first argument (the only option before it is --version).
    args = _parser(discovering=argv[:1] == ["discover"]).parse_args(argv)
    if args.command == "journal-check":
        return _journal_check(args)
    if args.command == "discover":
        from receiptd.cli import discover

        return discover.main(args)
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"receiptd: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.command == "config":
        json.dump(effective(config), sys.stdout, indent=2)
        print()
        return 0
    logging_setup.configure(args.log_format or config.daemon.log_format,
                            config.daemon.log_level, wire=config.daemon.wire_log)
    log = structlog.get_logger("receiptd")
    if not config.tokens:
        log.warning("auth_disabled", hint="no tokens configured: every caller is admin")
    # imported late: `receiptd config` and `journal-check` stay light
    from receiptd.daemon.serve import serve
    from receiptd.daemon.wiring import Daemon

    os.umask(0o077)  # journal, WAL, backups: the service's eyes only (as the unit's UMask=)
    try:
        serve(Daemon(config))
    except (JournalCorrupt, JournalUnavailable) as exc:
        log.error("journal_refused", code=exc.code, error=str(exc))
        print(f"receiptd: {exc}", file=sys.stderr)
        if isinstance(exc, JournalCorrupt):
            print(f"receiptd: details: receiptd journal-check --journal {config.daemon.journal}",
                  file=sys.stderr)
        return 3
    except ConfigError as exc:
        print(f"receiptd: {exc}", file=sys.stderr)
        return EX_CONFIG
    except OSError as exc:
        log.error("start_failed", error=str(exc))
        print(f"receiptd: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _journal_check(args: argparse.Namespace) -> int:
    from receiptd.journal.check import check

    path = args.journal
    if path is None:
        try:
            path = load_config(args.config).daemon.journal
        except ConfigError as exc:
            print(f"receiptd: {exc}", file=sys.stderr)
            return EX_CONFIG
    code, report = check(path)
    print(report)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""``receiptd-emulator``: run a virtual printer, or send it one control command.

    receiptd-emulator serve --tcp 127.0.0.1:9100 --control 127.0.0.1:9101 --transcript -
    receiptd-emulator ctl --control 127.0.0.1:9101 paper_out
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any, TextIO

from receiptd.emulator import Emulator, control
from receiptd.emulator.charsets import DBCS_CODECS
from receiptd.emulator.transcript import render_entry

DEFAULT_CONTROL = "127.0.0.1:9101"


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="receiptd-emulator",
                                     description="A virtual ESC/POS (or Star Line Mode) receipt "
                                     "printer.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the emulated printer")
    serve.add_argument("--tcp", type=_address, metavar="HOST:PORT",
                       help="host port like a printer's 9100 (default 127.0.0.1:9100 "
                            "unless --pty is given)")
    serve.add_argument("--pty", nargs="?", const="", metavar="LINK",
                       help="serial port on a pseudo-terminal; LINK: also make this symlink")
    serve.add_argument("--control", type=_address, metavar="HOST:PORT",
                       default=_address(DEFAULT_CONTROL), help="control port (default %(default)s)")
    serve.add_argument("--speed", type=float, default=250.0, metavar="MM_PER_S",
                       help="print speed (default %(default)s)")
    serve.add_argument("--baud", type=int, help="limit the byte rate to baud/10 B/s")
    serve.add_argument("--buffer", type=int, default=4096, help="receive buffer bytes")
    serve.add_argument("--columns", type=int, default=42, help="font A characters per line")
    serve.add_argument("--power-off", type=float, default=1.0, metavar="SECONDS",
                       help="how long a power cycle keeps the printer off")
    serve.add_argument("--overheat", type=float, default=2.0, metavar="SECONDS",
                       help="how long a head overheat lasts")
    serve.add_argument("--cjk", default="gb18030", choices=sorted(DBCS_CODECS),
                       help="double-byte character set of Kanji mode (FS &): gb18030 "
                            "(Chinese), big5 (Taiwan), shift_jis (Japan), ksc5601 (Korea); "
                            "default %(default)s")
    serve.add_argument("--dialect", default="escpos", choices=("escpos", "star"),
                       help="command language: escpos (Epson TM-T88 class) or star (Star Line "
                            "Mode, TSP100 / mC-Print class); default %(default)s")
    serve.add_argument("--star-version", default="TSP143IIIU Ver1.0", metavar="TEXT",
                       help="the Star dialect's answer to ESC # * (default %(default)s)")
    serve.add_argument("--transcript", default="-", metavar="FILE",
                       help="append readable transcript lines here ('-': stdout)")

    ctl = sub.add_parser("ctl", help="send one control command, print the reply")
    ctl.add_argument("--control", type=_address, metavar="HOST:PORT",
                     default=_address(os.environ.get("RECEIPTD_EMULATOR_CONTROL",
                                                     DEFAULT_CONTROL)))
    ctl.add_argument("words", nargs="+", metavar="COMMAND [ARGS...]")
    return parser


def serve(args: argparse.Namespace) -> int:
    emu = Emulator(speed_mm_s=args.speed, buffer_size=args.buffer, columns=args.columns,
                   power_off_s=args.power_off, overheat_s=args.overheat, cjk=args.cjk,
                   dialect=args.dialect, star_version=args.star_version)
    out: TextIO = sys.stdout if args.transcript == "-" else open(  # noqa: SIM115
        args.transcript, "a", encoding="utf-8")
    write_lock = threading.Lock()

    def on_entry(entry: dict[str, Any]) -> None:
        with write_lock:
            out.write(render_entry(entry, args.columns) + "\n")
            out.flush()

    info: dict[str, Any] = {}
    try:
        if args.tcp is not None or args.pty is None:
            host, port = args.tcp or ("127.0.0.1", 9100)
            info["tcp"] = f"{host}:{emu.start_tcp(host, port)}"
        if args.pty is not None:
            info["pty"] = emu.start_pty(args.pty or None, baud=args.baud)
            if args.pty:
                info["pty_link"] = args.pty
        elif args.baud:
            emu.model.link_bytes_per_s = args.baud / 10
        chost, cport = args.control
        info["control"] = f"{chost}:{emu.start_control(chost, cport)}"
    except OSError as exc:
        emu.stop()
        print(f"receiptd-emulator: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(info), flush=True)
    emu.subscribe(on_entry)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    emu.stop()
    if out is not sys.stdout:
        out.close()
    return 0


def ctl(args: argparse.Namespace) -> int:
    host, port = args.control
    try:
        reply = control.send_command(host, port, " ".join(args.words))
    except OSError as exc:
        print(f"receiptd-emulator: cannot reach {host}:{port}: {exc}", file=sys.stderr)
        return 2
    if args.words[0] == "text" and reply.startswith('"'):
        sys.stdout.write(json.loads(reply))
    else:
        print(reply)
    return 1 if reply.startswith("error") or not reply else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(args) if args.command == "serve" else ctl(args)
    except BrokenPipeError:  # stdout closed early (| head): not an error of ours
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""``receiptd discover``: what printers this machine can reach, and the config that uses them.

Runs without the daemon (the API may not be set up yet: finding the printer comes first). USB
and serial ports are listed; serial ports are only opened with ``--probe`` or ``--serial``
(opening a port can disturb whatever else uses it). The network is only asked at the
addresses given with ``--host``, or across an explicit ``--scan`` range (a /24 at most).

The output ends with a ``[printers.NAME]`` snippet ready to paste into the config file; the
profile is guessed from the model the printer names, and where no guess fits a comment says so;
a double-byte character set the printer names as its font becomes ``double_byte``. A printer
that answered in Star Line Mode, or a USB device with Star's vendor ID, gets ``dialect =
"star"`` and a Star profile; a raster-only model (TSP100 class: TSP143) also gets the profile
override ``dialect = "star_raster"``. The settings come from ``render.identify.suggest``, the
same reading of a printer's identity the daemon uses.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass

from receiptd.errors import ConfigError, LinkError
from receiptd.links import discover as find
from receiptd.links import usb_backend_from_env
from receiptd.render.identify import suggest

STAR_DIALECTS = ("star", "star_raster")


@dataclass
class Found:
    """One row of the table: a printer, a port, or (with ``--all``) some other USB device."""

    kind: str  # "usb" | "serial" | "tcp"
    url: str
    printer: bool  # known to be a printer: a USB printer-class device, or it answered
    maker: str | None = None
    model: str | None = None
    serial: str | None = None
    status: str = ""  # what was asked and heard: "online", "offline", "no answer", an error
    profile: str | None = None
    font: str | None = None
    double_byte: str | None = None  # guessed from the font the printer names
    dialect: str | None = None  # escpos, star or star_raster (Star raster-only models)
    said: str = ""  # why that dialect: what the printer answered in, or its USB vendor
    name: str = ""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true",
                   help="also list USB devices that are not printers")
    p.add_argument("--probe", action="store_true",
                   help="open each listed serial port and ask the printer's status and identity")
    p.add_argument("--serial", action="append", default=[], metavar="PATH",
                   help="probe this serial port (repeatable; e.g. a port pyserial does not list)")
    p.add_argument("--baud", action="append", type=int, default=[], metavar="RATE",
                   help="baud rates to try on serial ports (repeatable; default "
                   f"{', '.join(map(str, find.USUAL_BAUDS))})")
    p.add_argument("--host", action="append", default=[], metavar="HOST[:PORT]",
                   help=f"probe a network printer (repeatable; port {find.DEFAULT_PORT} unless "
                   "given)")
    p.add_argument("--scan", metavar="CIDR",
                   help="probe every address of this range (at most a /24) at --port")
    p.add_argument("--port", type=int, default=find.DEFAULT_PORT,
                   help="the port --scan asks at")
    p.add_argument("--timeout", type=float, default=0.5,
                   help="seconds to wait for each answer (default 0.5)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--toml", action="store_true", help="print only the config snippet")
    out.add_argument("--json", action="store_true", help="print the findings as JSON")


def main(args: argparse.Namespace) -> int:
    if not 0.05 <= args.timeout <= 10:
        print("receiptd discover: --timeout must be from 0.05 to 10 seconds", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536 or any(b <= 0 for b in args.baud):
        print("receiptd discover: --port must be 1-65535 and --baud positive", file=sys.stderr)
        return 2
    try:
        return _discover(args)
    except ConfigError as exc:  # a --serial path the link refuses, say
        print(f"receiptd discover: {exc}", file=sys.stderr)
        return 2


def _discover(args: argparse.Namespace) -> int:
    try:
        hosts = [find.parse_host(h) for h in args.host]
    except ValueError as exc:
        print(f"receiptd discover: --host {exc}", file=sys.stderr)
        return 2
    try:
        find.scan_range(args.scan or "127.0.0.1/32")  # refused before anything is probed
    except ValueError as exc:
        print(f"receiptd discover: --scan {exc}", file=sys.stderr)
        return 2
    notes: list[str] = []
    found = _usb(args.all, notes) + _serial(args, notes)
    for host, port in hosts:
        found.append(_from_probe("tcp", find.probe_host(host, port, timeout=args.timeout)))
    if args.scan:
        probes = find.scan(args.scan, args.port, timeout=args.timeout)
        found += [_from_probe("tcp", p) for p in probes]
        notes.append(f"scanned {args.scan} at port {args.port}: {len(probes)} answered")
    _name(found)
    snippet = toml_snippet(found)
    if args.json:
        json.dump({"found": [asdict(f) for f in found], "notes": notes, "toml": snippet},
                  sys.stdout, indent=2)
        print()
    elif args.toml:
        sys.stdout.write(snippet)
    else:
        sys.stdout.write(table(found) + "\n")
        for note in notes:
            print(f"note: {note}")
        sys.stdout.write("\n" + snippet)
    return 0


# -- gathering ---------------------------------------------------------------------------------


def _usb(everything: bool, notes: list[str]) -> list[Found]:
    try:
        devices = find.usb_devices(usb_backend_from_env())
    except (LinkError, ConfigError) as exc:
        notes.append(str(exc))
        return []
    out = []
    for dev in devices:
        if dev.printer or everything:
            status = "printer class" if dev.printer else "not a printer"
            row = Found("usb", dev.url, dev.printer, dev.maker, dev.model, dev.serial, status)
            if dev.printer:
                _settle(row, star=dev.star)
                if dev.star:
                    row.said = f"Star's USB vendor ID {find.STAR_VENDOR_ID:04x}"
            out.append(row)
    return out


def _serial(args: argparse.Namespace, notes: list[str]) -> list[Found]:
    bauds = args.baud or find.USUAL_BAUDS
    out = []
    listed = {p.device: p for p in find.serial_ports()}
    for path in sorted(set(args.serial) | (set(listed) if args.probe else set())):
        row = _from_probe("serial", find.probe_serial(path, bauds, timeout=args.timeout))
        port = listed.get(path)
        if port is not None and not row.printer:
            row.maker = row.maker or port.maker
            row.model = row.model or port.description
        out.append(row)
    for path, port in listed.items():
        if path not in args.serial and not args.probe:
            out.append(Found("serial", f"serial://{path}", False, port.maker, port.description,
                             port.serial, "not probed (--probe)"))
    if not listed:
        notes.append("no serial ports listed by pyserial")
    return out


def _from_probe(kind: str, probe: find.Probe) -> Found:
    answer = probe.answer
    if answer is None:
        status = probe.error or ("no answer to DLE EOT or ESC ACK SOH" if probe.reachable
                                 else "unreachable")
        return Found(kind, probe.url, False, status=status)
    status = "online" if answer.online else "offline (cover, paper or button)"
    row = Found(kind, probe.url, True, answer.maker, answer.model, answer.serial, status,
                font=answer.font)
    star = answer.dialect == find.STAR
    _settle(row, star=star)
    if star:
        row.said = "it answered in Star Line Mode"
    return row


def _settle(row: Found, *, star: bool) -> None:
    """Profile, dialect and double-byte set for what ``row`` says it is (``suggest``). A
    printer is spoken to in the language it answered in: a Star model in ESC/POS emulation
    stays ESC/POS, and an ESC/POS printer never gets a Star dialect."""
    model = star_model(row.model) if star else row.model
    identity = {k: v for k, v in (("maker", row.maker), ("model", model), ("font", row.font))
                if v}
    if star:
        identity["maker"] = find.STAR_MAKER
    suggestion = suggest(identity)
    if star:
        row.dialect = suggestion.dialect if suggestion.dialect in STAR_DIALECTS else "star"
        row.profile = suggestion.profile
        return
    row.dialect = find.ESCPOS
    row.profile = guess_profile(row.model) or (
        suggestion.profile if suggestion.dialect == find.ESCPOS else None)
    row.double_byte = guess_double_byte(row.font) or suggestion.double_byte


_STAR_WORDS = {"STAR", "MICRONICS", "STAR-MICRONICS", "CO.,", "LTD.", "LTD"}


def star_model(model: str | None) -> str | None:
    """A Star product name without the maker's words (``Star TSP143IIIU`` → ``TSP143IIIU``),
    the form Star's version line gives and ``suggest`` knows."""
    words = [w for w in (model or "").split() if w.upper() not in _STAR_WORDS]
    return " ".join(words) or None


# Words a printer's GS I 69 font answer uses for its double-byte set -> profile double_byte.
_DOUBLE_BYTE_WORDS = (
    (("gb18030", "gb2312", "gbk", "simplified chinese"), "gb18030"),
    (("big5", "traditional chinese"), "big5"),
    (("shift_jis", "shift-jis", "sjis", "japanese", "kanji"), "shift_jis"),
    (("ksc5601", "ks c 5601", "korean"), "ksc5601"),
)


def guess_double_byte(font: str | None) -> str | None:
    """The ``double_byte`` setting a font name points to (a Chinese, Japanese or Korean model
    names its set), or None for single-byte fonts such as ``PC437``."""
    lowered = (font or "").lower()
    for words, setting in _DOUBLE_BYTE_WORDS:
        if any(word in lowered for word in words):
            return setting
    return None


def guess_profile(model: str | None) -> str | None:
    """The profile named like the model (``TM-T88V``, ``EPSON TM-T20II`` → ``TM-T20II``), or
    None: a wrong guess would print at the wrong width, so only a name that exists counts."""
    from receiptd.render.profiles import get_profile

    if not model:
        return None
    words = model.replace("_", " ").split()
    for candidate in (model, *words, *(w.upper() for w in words)):
        try:
            get_profile(candidate)
        except ConfigError:
            continue
        return candidate
    return None


def _name(found: list[Found]) -> None:
    """Config names: the model's (``tm-t88v``), else the kind's; numbered when repeated."""
    taken: set[str] = set()
    for row in found:
        if not row.printer:
            continue
        base = re.sub(r"[^a-z0-9_-]+", "-", (row.model or "").lower()).strip("-_")[:28]
        base = base or {"tcp": "network"}.get(row.kind, row.kind)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        row.name = name


# -- output ------------------------------------------------------------------------------------


def table(found: list[Found]) -> str:
    if not found:
        return "no printers found"
    head = ("KIND", "URL", "MAKER", "MODEL", "SERIAL", "DIALECT", "STATUS")
    rows = [head] + [(f.kind, f.url, f.maker or "-", f.model or "-", f.serial or "-",
                      f.dialect or "-", f.status) for f in found]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
                     for r in rows)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def toml_snippet(found: list[Found]) -> str:
    printers = [f for f in found if f.printer]
    if not printers:
        return "# no printer found: nothing to configure\n"
    parts = []
    for row in printers:
        said = " ".join(x for x in (row.maker, row.model) if x) or "no model given"
        lines = [f"[printers.{row.name}]", f"url = {_quote(row.url)}"]
        star = row.dialect in STAR_DIALECTS
        if star:
            lines.append(f'dialect = "star"  # {row.said or "a Star printer"}')
        if row.profile and star:
            lines.append(f"profile = {_quote(row.profile)}  # a Star profile, for {said}")
        elif row.profile and row.profile != guess_profile(row.model):
            lines.append(f"profile = {_quote(row.profile)}  # the closest to {said}: check "
                         "its width")
        elif row.profile:
            lines.append(f"profile = {_quote(row.profile)}  # guessed from {said}")
        else:
            lines.append(f"# profile: none guessed ({said}); set the model's, see README")
        if row.dialect == "star_raster":
            lines += [f"[printers.{row.name}.profile_overrides]",
                      f'dialect = "star_raster"  # {row.model or "this model"} prints raster '
                      "lines only (TSP100 class)"]
        elif row.double_byte and not star:
            lines += [f"[printers.{row.name}.profile_overrides]",
                      f"double_byte = {_quote(row.double_byte)}  # its font: {row.font}"]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


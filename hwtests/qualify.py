"""Hardware qualification: what a printer really supports, and whether receiptd sees and
recovers from what an operator does to it (cover, paper, cable).

Two kinds of target share all of this code:

* a real printer (``RECEIPTD_HW_PRINTER=usb://04b8:0e28``, ``tcp://…``, ``serial://…``) with a
  ``TerminalOperator``: a person at the printer, prompted on the terminal (``/dev/tty``);
* the emulator with an ``EmulatorOperator``: the same steps done by fault injection, so CI
  runs this code on every ``make test``.

The printer's language comes from the URL's ``dialect=`` (``escpos``, ``star`` for Star Line
Mode, ``star_raster`` for raster-only Star models such as the TSP143) and its profile from
``profile=``; without ``dialect=`` the printer is asked (ESC/POS first, then Star, as
``receiptd discover`` does). A Star printer gets the Star checks of ``hwtests/star.py``.

The result is a compatibility report (JSON plus a readable summary) that users can share.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote_plus

import httpx

from receiptd import __version__, protocol
from receiptd.emulator import Emulator
from receiptd.links import Link, link_for_url
from receiptd.links.discover import STAR, probe_link
from receiptd.render.identify import suggest
from receiptd.render.profiles import Profile, get_profile
from receiptd.testing.loopback import free_port

from . import star as star_checks

# ------------------------------------------------------------------------------ operators


class Operator(Protocol):
    """Whoever changes the printer's physical state."""

    name: str

    def do(self, action: str, instruction: str) -> None:
        """Make ``action`` happen (open_cover, close_cover, remove_paper, load_paper,
        pull_cable, plug_cable); return once it has."""

    def confirm(self, question: str, evidence: Callable[[], bool]) -> bool:
        """Answer a yes/no question about the paper; ``evidence`` is the emulator's view."""


class TerminalOperator:
    """A person at a real printer, asked on the controlling terminal (pytest captures stdio)."""

    name = "terminal"

    def __init__(self, tty: str = "/dev/tty") -> None:
        try:
            self._tty = open(tty, "r+", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise RuntimeError(f"hardware qualification needs a terminal to ask the operator "
                               f"({tty}: {exc.strerror})") from exc

    def _ask(self, text: str) -> str:
        self._tty.write(f"\n>>> {text} ")
        self._tty.flush()
        return self._tty.readline().strip().lower()

    def do(self, action: str, instruction: str) -> None:
        self._ask(f"{instruction}\n    Press Enter when done.")

    def confirm(self, question: str, evidence: Callable[[], bool]) -> bool:
        while True:
            answer = self._ask(f"{question} [y/n]")
            if answer in ("y", "yes", "n", "no"):
                return answer.startswith("y")

    def close(self) -> None:
        self._tty.close()


class EmulatorOperator:
    """The operator's steps as emulator fault injection; ``pull_cable`` unplugs its pty (on
    TCP: the printer falls silent, as behind a pulled network cable)."""

    name = "emulator"
    ACTIONS: ClassVar[dict[str, Callable[[Emulator], Any]]] = {
        "open_cover": lambda e: e.inject("cover_open"),
        "close_cover": lambda e: e.clear("cover_open"),
        "remove_paper": lambda e: e.inject("paper_out"),
        "load_paper": lambda e: e.clear("paper_out"),
        # Behind a pty the adapter vanishes; on TCP the network goes quiet (the socket stays).
        "pull_cable": lambda e: e.unplug_pty() if e.pty is not None else e.inject("silent"),
        "plug_cable": lambda e: e.replug_pty() if e.pty is not None else e.clear("silent"),
        # The person opens the cover while the next receipt prints: 30 mm into it.
        "interrupt_next": lambda e: e.arm("cover_open", after_mm=30),
    }

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def do(self, action: str, instruction: str) -> None:
        self.ACTIONS[action](self.emulator)

    def confirm(self, question: str, evidence: Callable[[], bool]) -> bool:
        return evidence()

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------ feature probe


@dataclass
class Feature:
    name: str
    supported: bool | None  # None: could not be decided
    detail: str = ""


def _exchange(link: Link, parser: protocol.StreamParser, data: bytes,
              want: Callable[[protocol.Event], bool], timeout: float) -> protocol.Event | None:
    """Send ``data``, return the first reply event ``want`` accepts, None on timeout."""
    link.write(data, timeout=5.0)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for event in parser.feed(link.read(min(left, 0.2))):
            if want(event):
                return event
    return None


def _drain(link: Link, parser: protocol.StreamParser, seconds: float = 0.3) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        parser.feed(link.read(0.05))


CUT_TEST = (b"\x1b@" + b"receiptd hwtests: cutter test\n" + b"\n" * 4
            + b"\x1dV\x41\x00")  # ESC @, text, feed, GS V 65 0: feed and full cut


def probe_features(url: str, operator: Operator,
                   saw_cut: Callable[[], bool]) -> tuple[list[Feature], dict[str, str]]:
    """Ask the printer directly (receiptd not running: one owner per device)."""
    link = link_for_url(url)
    link.open()
    parser = protocol.StreamParser()
    features: list[Feature] = []
    identity: dict[str, str] = {}
    try:
        # Quiet first: a previous owner may have left ASB on.
        link.write(protocol.enable_asb(0), timeout=5.0)
        _drain(link, parser)
        for n in (1, 2, 3, 4):
            ev = _exchange(link, parser, protocol.dle_eot(n),
                           lambda e: isinstance(e, protocol.RealTimeStatus), 1.5)
            features.append(Feature(
                f"DLE EOT {n}", ev is not None,
                f"0x{ev.value:02X}" if isinstance(ev, protocol.RealTimeStatus) else "no reply"))
        ev = _exchange(link, parser, protocol.enable_asb(),
                       lambda e: isinstance(e, protocol.AsbStatus), 2.0)
        features.append(Feature("ASB (GS a)", ev is not None,
                                ev.raw.hex(" ") if isinstance(ev, protocol.AsbStatus)
                                else "no status block"))
        link.write(protocol.enable_asb(0), timeout=5.0)
        _drain(link, parser)
        ev = _exchange(link, parser, protocol.process_id("HWQ1"),
                       lambda e: isinstance(e, protocol.ProcessIdReply), 3.0)
        features.append(Feature("process ID (GS ( H fn 48)",
                                isinstance(ev, protocol.ProcessIdReply) and ev.pid == "HWQ1",
                                repr(ev.pid) if isinstance(ev, protocol.ProcessIdReply)
                                else "no reply: receiptd falls back to status confirmation"))
        answered = []
        for n, key in ((65, "firmware"), (66, "maker"), (67, "model"), (68, "serial")):
            ev = _exchange(link, parser, protocol.identity(n),
                           lambda e: isinstance(e, protocol.InfoBlock), 1.5)
            if isinstance(ev, protocol.InfoBlock):
                identity[key] = ev.payload.decode("ascii", "replace").strip()
                answered.append(f"{key}={identity[key]!r}")
        features.append(Feature("GS I 65-68 (identity)", bool(answered),
                                ", ".join(answered) or "no reply"))
        counters = []
        for n, key in ((20, "feed lines"), (50, "cuts"), (70, "hours")):
            ev = _exchange(link, parser, protocol.maintenance_counter(n | protocol.CUMULATIVE),
                           lambda e: isinstance(e, protocol.InfoBlock), 1.5)
            if isinstance(ev, protocol.InfoBlock):
                counters.append(f"{key}={ev.payload.decode('ascii', 'replace').strip()}")
        features.append(Feature("GS g 2 (maintenance counters)", bool(counters),
                                ", ".join(counters) or "no reply"))
        # The cutter: cut, wait until the paper is out (process ID), ask DLE EOT 3, ask the
        # operator whether the slip came off.
        link.write(CUT_TEST, timeout=5.0)
        done = _exchange(link, parser, protocol.process_id("HWQ2"),
                         lambda e: isinstance(e, protocol.ProcessIdReply), 10.0)
        ev = _exchange(link, parser, protocol.dle_eot(3),
                       lambda e: isinstance(e, protocol.RealTimeStatus), 1.5)
        cutter_error = isinstance(ev, protocol.RealTimeStatus) and bool(ev.value & 0x08)
        cut = operator.confirm("Did the printer print 'receiptd hwtests: cutter test' and cut "
                               "the paper?", saw_cut)
        features.append(Feature("autocutter (GS V)", cut and not cutter_error,
                                f"operator: {'cut' if cut else 'not cut'}; DLE EOT 3 "
                                f"{'autocutter error' if cutter_error else 'no error'}"
                                f"{'' if done else '; no process ID after the cut'}"))
    finally:
        link.close()
    return features, identity


# ------------------------------------------------------------------------------ the printer


DIALECTS = ("escpos", "star", "star_raster")
DEFAULT_PROFILES = {"escpos": "TM-T88V", "star": "TSP600", "star_raster": "TSP600"}
_PRINTER_KEYS = ("dialect", "profile")


@dataclass
class Target:
    """The printer under test: its link's URL, language and receiptd profile."""

    url: str  # the link's own URL (without dialect= / profile=)
    dialect: str
    profile: str
    detected: bool = False  # the dialect was asked of the printer, not given

    @property
    def star(self) -> bool:
        return self.dialect != "escpos"

    def render_profile(self) -> Profile:
        return get_profile(self.profile, {"dialect": self.dialect} if self.star else None,
                           where="RECEIPTD_HW_PRINTER profile")

    def toml(self) -> str:
        lines = ["[printers.hw]", f"url = {json.dumps(self.url)}",
                 f"dialect = {json.dumps('star' if self.star else 'escpos')}",
                 f"profile = {json.dumps(self.profile)}"]
        if self.dialect == "star_raster":
            lines += ["[printers.hw.profile_overrides]", 'dialect = "star_raster"']
        return "\n".join(lines) + "\n"


def target_for(url: str) -> Target:
    """Split ``dialect=`` and ``profile=`` off the URL; ask the printer for what is missing."""
    base, sep, query = url.partition("?")
    kept, given = [], {}
    for part in query.split("&") if sep else ():
        key, _, value = part.partition("=")
        if unquote_plus(key) in _PRINTER_KEYS:
            given[unquote_plus(key)] = unquote_plus(value)
        else:
            kept.append(part)
    link_url = base + ("?" + "&".join(kept) if kept else "")
    dialect, detected = given.get("dialect"), False
    if dialect is None:
        dialect, detected = detect_dialect(link_url), True
    if dialect not in DIALECTS:
        raise ValueError(f"dialect={dialect!r}: expected one of {', '.join(DIALECTS)}")
    return Target(link_url, dialect, given.get("profile") or DEFAULT_PROFILES[dialect],
                  detected)


def detect_dialect(url: str) -> str:
    """What the printer answers in (``receiptd discover``'s probe): ESC/POS, else Star Line
    Mode, and for a Star model that prints raster lines only, ``star_raster``."""
    answer = probe_link(link_for_url(url), timeout=1.0).answer
    if answer is None or answer.dialect != STAR:
        return "escpos"
    hint = suggest({"maker": star_checks.STAR_MAKER, "model": answer.model or ""}).dialect
    return hint if hint in ("star", "star_raster") else "star"


# ------------------------------------------------------------------------------ the daemon



class Daemon:
    """The real ``receiptd run`` against the printer under test."""

    ADMIN = "hwtests-admin-secret"
    POS = "hwtests-pos-secret"

    def __init__(self, workdir: Path, url: str, config: str | None = None) -> None:
        """``config``: a ``[printers.hw]`` TOML section to use instead of ``--printer hw=url``
        (a Star printer's dialect and profile overrides)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "receiptd.log"
        env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(workdir / "escpos-cache")}
        if config is None:
            printer = ["--printer", f"hw={url}"]
        else:
            (workdir / "receiptd.toml").write_text(config)
            printer = ["--config", str(workdir / "receiptd.toml")]
        args = [sys.executable, "-m", "receiptd.cli.daemon", "run",
                "--journal", str(workdir / "journal.db"), "--listen", f"127.0.0.1:{self.port}",
                *printer, "--token", f"admin:{self.ADMIN}",
                "--token", f"pos:{self.POS}", "--log-format", "json"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        self.admin = httpx.Client(base_url=self.base, timeout=10,
                                  headers={"Authorization": f"Bearer {self.ADMIN}"})
        self.pos = httpx.Client(base_url=self.base, timeout=10,
                                headers={"Authorization": f"Bearer {self.POS}"})
        self.wait("the daemon's API", self._healthy, 30)

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"receiptd exited with {self.proc.returncode}: "
                               f"{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def wait(what: str, predicate: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

    def printer(self) -> dict[str, Any]:
        r = self.admin.get("/v1/printers/hw")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def submit(self, tag: str) -> int:
        doc = {"blocks": [{"type": "text", "text": f"RECEIPTD HW TEST {tag}", "bold": True},
                          {"type": "row", "left": "Qualification", "right": tag},
                          {"type": "cut"}]}
        return self.submit_document(doc, tag)

    def submit_document(self, doc: dict[str, Any], tag: str) -> int:
        r = self.pos.post("/v1/printers/hw/receipts", json={"document": doc, "order_ref": tag})
        if r.status_code != 202:
            raise RuntimeError(f"submit {tag}: {r.status_code} {r.text}")
        return int(r.json()["id"])

    def _receipt(self, receipt_id: int) -> dict[str, Any]:
        r = self.pos.get(f"/v1/receipts/{receipt_id}")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def receipt_state(self, receipt_id: int) -> str:
        return str(self._receipt(receipt_id)["state"])

    def receipt_prints(self, receipt_id: int) -> list[dict[str, Any]]:
        return list(self._receipt(receipt_id)["prints"])

    def reprint(self, receipt_id: int) -> None:
        """A cashier's marked copy (the admin token is a cashier's too)."""
        r = self.admin.post(f"/v1/receipts/{receipt_id}/reprint",
                            json={"reason": "hardware qualification"})
        if r.status_code != 202:
            raise RuntimeError(f"reprint {receipt_id}: {r.status_code} {r.text}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.admin.close()
        self.pos.close()


# ------------------------------------------------------------------------------ fault steps


@dataclass
class Step:
    name: str
    expected: str
    observed: str = ""
    detected: bool = False
    recovered: bool = False
    receipt_printed: bool = False
    detect_s: float | None = None
    recover_s: float | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.detected and self.recovered and self.receipt_printed and not self.error


# (name, fault action, its instruction, the state receiptd must show, undo, its instruction)
FAULTS = (
    ("cover", "open_cover", "Open the printer's cover (leave the paper in).", {"cover_open"},
     "close_cover", "Close the cover firmly."),
    ("paper", "remove_paper", "Open the cover, take the paper roll out, close the cover.",
     {"paper_out"}, "load_paper", "Open the cover, put the paper roll back, close the cover."),
    ("cable", "pull_cable", "Pull the printer's data cable (USB, serial or network) out.",
     {"offline"}, "plug_cable", "Plug the data cable back in."),
)


def run_fault(daemon: Daemon, operator: Operator, fault: tuple[Any, ...],
              timeout: float) -> Step:
    name, action, instruction, states, undo, undo_instruction = fault
    step = Step(name=name, expected=" | ".join(sorted(states)))
    try:
        t0 = time.monotonic()
        operator.do(action, instruction)
        seen = daemon.wait(f"state {step.expected}",
                           lambda: daemon.printer()["state"] in states and daemon.printer(),
                           timeout)
        step.detect_s = round(time.monotonic() - t0, 2)
        step.detected = True
        step.observed = f"{seen['state']} ({seen.get('cause', '')})"
        receipt = daemon.submit(f"during-{name}")  # held in the journal during the fault
        t1 = time.monotonic()
        operator.do(undo, undo_instruction)
        daemon.wait("the printer ready again",
                    lambda: daemon.printer()["state"] in ("online", "paper_near_end"), timeout)
        step.recover_s = round(time.monotonic() - t1, 2)
        step.recovered = True
        daemon.wait(f"receipt during-{name} printed",
                    lambda: daemon.receipt_state(receipt) == "printed", timeout)
        step.receipt_printed = True
    except (TimeoutError, RuntimeError, httpx.HTTPError) as exc:
        step.error = str(exc)
    return step


# ------------------------------------------------------------------------------ the report


@dataclass
class Report:
    printer_url: str
    target: str
    operator: str
    dialect: str = "escpos"
    receiptd_version: str = __version__
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    host: str = field(default_factory=lambda: f"{platform.system()} {platform.release()} "
                      f"{platform.machine()}, Python {platform.python_version()}")
    identity: dict[str, str] = field(default_factory=dict)
    confirmation: str = ""
    features: list[Feature] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    first_receipt_printed: bool = False

    @property
    def ok(self) -> bool:
        return self.first_receipt_printed and all(s.ok for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        for step, data in zip(self.steps, out["steps"], strict=True):
            data["ok"] = step.ok
        return out

    def summary(self) -> str:
        ident = self.identity
        lines = [
            "receiptd hardware compatibility report",
            f"printer   {ident.get('maker', '?')} {ident.get('model', '?')} "
            f"(firmware {ident.get('firmware', '?')}) at {self.printer_url}",
            f"receiptd  {self.receiptd_version}; {self.host}; {self.date}",
            f"dialect   {self.dialect}",
            f"operator  {self.operator}; prints confirmed by: {self.confirmation or '?'}"
            + (" (the ETB counter)" if self.dialect != "escpos" and self.confirmation
               == "process_id" else ""),
            "",
            "protocol features",
        ]
        for f in self.features:
            mark = {True: "yes", False: "NO ", None: " ? "}[f.supported]
            lines.append(f"  [{mark}] {f.name:32} {f.detail}")
        lines += ["", "operator steps (detected -> recovered -> held receipt printed)"]
        for s in self.steps:
            lines.append(
                f"  [{'ok' if s.ok else 'FAIL'}] {s.name:7} expected {s.expected:11} "
                f"saw {s.observed or '-'}; detect {s.detect_s}s, recover {s.recover_s}s"
                + (f"; {s.error}" if s.error else ""))
        lines += ["", f"RESULT: {'PASS' if self.ok else 'FAIL'}"]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        model = "".join(c if c.isalnum() else "-" for c in self.identity.get("model", self.target))
        stem = directory / f"receiptd-hw-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
        json_path, text_path = stem.with_suffix(".json"), stem.with_suffix(".txt")
        json_path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        text_path.write_text(self.summary())
        return json_path, text_path


def qualify(url: str, target: str, operator: Operator, workdir: Path,
            saw_cut: Callable[[], bool], fault_timeout: float,
            slips: star_checks.Slips = list) -> Report:
    """The whole qualification: probe, then the daemon through every operator step.

    ``slips`` is what the emulator printed (its transcript's slips): the evidence an
    ``EmulatorOperator`` answers the Star checks' questions with; a person looks instead."""
    printer = target_for(url)
    if printer.star:
        return qualify_star(url, printer, target, operator, workdir, saw_cut, fault_timeout,
                            slips)
    report = Report(printer_url=url, target=target, operator=operator.name)
    report.features, report.identity = probe_features(printer.url, operator, saw_cut)
    daemon = Daemon(workdir, url)
    try:
        daemon.wait("printer online",
                    lambda: daemon.printer()["state"] in ("online", "paper_near_end"), 30)
        first = daemon.submit("first")
        daemon.wait("the first receipt printed", lambda: daemon.receipt_state(first) == "printed",
                    30)
        report.first_receipt_printed = True
        report.confirmation = str(daemon.printer().get("confirmation", ""))
        for fault in FAULTS:
            report.steps.append(run_fault(daemon, operator, fault, fault_timeout))
    finally:
        daemon.stop()
    return report


def qualify_star(url: str, printer: Target, target: str, operator: Operator, workdir: Path,
                 saw_cut: Callable[[], bool], fault_timeout: float,
                 slips: star_checks.Slips) -> Report:
    """A Star printer: Star's status, identity and ETB counter probed directly; then the
    daemon prints a full receipt in the printer's dialect, goes through the operator steps
    both dialects share, and reprints, marked, a receipt the cover interrupted."""
    report = Report(printer_url=url, target=target, operator=operator.name,
                    dialect=printer.dialect)
    rows, report.identity = star_checks.probe_star(printer.url, printer.render_profile(),
                                                   operator.confirm, saw_cut)
    report.features = [Feature(name, supported, detail) for name, supported, detail in rows]
    if printer.detected:
        report.features.insert(0, Feature("dialect (asked of the printer)", True,
                                          printer.dialect))
    raster = printer.dialect == "star_raster"
    daemon = Daemon(workdir, printer.url, config=printer.toml())
    try:
        daemon.wait("printer online",
                    lambda: daemon.printer()["state"] in ("online", "paper_near_end"), 30)
        first = daemon.submit_document(star_checks.full_receipt("first"), "first")
        daemon.wait("the first receipt printed", lambda: daemon.receipt_state(first) == "printed",
                    30)
        report.first_receipt_printed = True
        report.confirmation = str(daemon.printer().get("confirmation", ""))
        looks = operator.confirm(
            "Did a receipt print with a bold title, an underlined line, LARGE text, a barcode, "
            "a QR code and a checkerboard picture, get cut, and did the cash drawer open (say "
            "yes if no drawer is connected)?",
            lambda: star_checks.full_receipt_on_paper(slips, "first", raster))
        report.features.append(Feature(
            f"full receipt ({printer.dialect})", looks,
            f"styles, barcode, QR, image, cut, drawer; printed, confirmed by "
            f"{report.confirmation or '?'}; operator: "
            f"{'as expected' if looks else 'NOT as expected'}"))
        report.first_receipt_printed = looks
        report.features.append(Feature(
            "cashier's copy (COPY marker)",
            *star_checks.marked_copy(daemon, operator, first, slips, raster, fault_timeout)))
        for fault in FAULTS:
            report.steps.append(run_fault(daemon, operator, fault, fault_timeout))
        outcome = star_checks.interrupted_reprint(daemon, operator, fault_timeout, slips, raster)
        report.steps.append(Step(name="reprint", expected="cover_open", **outcome))
    finally:
        daemon.stop()
    return report

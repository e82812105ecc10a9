"""``receiptctl doctor [PRINTER]``: the merchant's troubleshooting flow, automated.

Each step passes, warns or fails with the concrete next action. The exit code is the worst
finding: 0 all ok, 1 a warning, 2 a failure. Like every client it uses the HTTP API only.

Steps: daemon reachable → printer link present → printer answers status → paper, cover and
errors → test print with confirmation → Chinese, Japanese and Korean text printable →
journal integrity and free disk → clock sanity.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from receiptd.cli.client import ApiError, Client

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
_RANK = {OK: 0, SKIP: 0, WARN: 1, FAIL: 2}
_LABEL = {OK: "PASS", WARN: "WARN", FAIL: "FAIL", SKIP: "SKIP"}
CLOCK_SKEW_WARN_S = 120.0
MIN_YEAR = 2024


@dataclass
class Finding:
    step: str
    result: str
    detail: str
    action: str = ""
    printer: str | None = None


class Doctor:
    def __init__(self, client: Client, *, test_print: bool = True,
                 print_timeout: float = 60.0) -> None:
        self.client = client
        self.test_print = test_print
        self.print_timeout = print_timeout
        self.findings: list[Finding] = []

    def add(self, step: str, result: str, detail: str, action: str = "",
            printer: str | None = None) -> Finding:
        finding = Finding(step, result, detail, action, printer)
        self.findings.append(finding)
        return finding

    def worst(self) -> int:
        return max((_RANK[f.result] for f in self.findings), default=0)

    # ------------------------------------------------------------------ the flow

    def run(self, printer: str | None) -> int:
        try:
            hz = self.client.call("GET", "/healthz")
        except ApiError as exc:
            if exc.code != "journal_corrupt":
                self.add("daemon", FAIL, str(exc),
                         "Start receiptd (sudo systemctl start receiptd; journalctl -u receiptd "
                         "shows why it stopped), and check --url / RECEIPTD_URL or "
                         "RECEIPTD_SOCKET.")
                return self.worst()
            # It answers and still prints what it holds: the journal step says what is wrong.
            hz = {}
        self.add("daemon", OK, f"receiptd {hz.get('version', '?')} answers")
        try:
            system = self.client.call("GET", "/v1/system", params={"check": "true"})
            names = [printer] if printer else list(system["printers"])
            healths = [self.client.call("GET", f"/v1/printers/{n}") for n in names]
        except ApiError as exc:
            if exc.code in ("journal_corrupt", "journal_unavailable"):
                self.add("journal", FAIL, exc.message,
                         "Stop receiptd, keep a copy of the journal for support, run `receiptd "
                         "journal-check`, and restore the latest backup.")
                return self.worst()
            action = ("Use an admin token (--token or RECEIPTD_TOKEN)."
                      if exc.status in (401, 403) else
                      "Check the printer name: receiptctl printers lists them."
                      if exc.status == 404 else "See the daemon log: journalctl -u receiptd.")
            self.add("daemon", FAIL, str(exc), action)
            return self.worst()
        if not names:
            self.add("printers", WARN, "no printer is configured",
                     "Add a [printers.NAME] section to the configuration and restart receiptd.")
        for health in healths:
            self.check_printer(health)
            self.check_text(health)
        self.check_journal(system)
        self.check_clock(system)
        return self.worst()

    def check_printer(self, h: dict[str, Any]) -> None:
        name = h["name"]
        link = f"{h['link']} link {h.get('address') or h['url']}"
        if h["connected"]:
            self.add("link", OK, f"{link}: connected", printer=name)
        elif h.get("present"):
            self.add("link", FAIL, f"{link}: the device is there but receiptd cannot open it "
                     f"({h.get('last_error') or 'no error recorded'})",
                     _open_action(h["link"]), printer=name)
            return
        else:
            self.add("link", FAIL, f"{link}: not found ({h.get('last_error') or 'no device'})",
                     _absent_action(h["link"]), printer=name)
            return
        if h["state"] in ("offline", "unknown"):
            self.add("status", FAIL, f"the printer does not answer status requests ({h['cause']})",
                     "Switch the printer off and on; check that the cable or network is firmly "
                     "connected and that this printer speaks ESC/POS.", printer=name)
            return
        ident = h.get("identity") or {}
        who = " ".join(ident.get(k, "") for k in ("maker", "model", "firmware")).strip()
        self.add("status", OK, f"answers status ({who or 'identity unknown'}; confirmation by "
                 f"{h['confirmation']})", printer=name)
        self.check_setup(name, h.get("setup") or {})
        problems = h.get("problems") or []
        serious = [p for p in problems if p["code"] not in
                   ("paper_near_end", "paper_low_estimate", "confirmation_status_only",
                    "drawer_open")]
        for p in problems:
            result = FAIL if p in serious else WARN
            if p["code"] == "drawer_open":
                continue
            self.add("paper/cover/errors", result, f"{p['code']} ({p['category']})"
                     + (f" since {p['since'][11:19]} UTC" if p.get("since") else ""),
                     p["hint"]["en"], printer=name)
        if not serious and not any(p["code"] != "drawer_open" for p in problems):
            self.add("paper/cover/errors", OK, f"state {h['state']}: paper, cover and "
                     "mechanism report no error", printer=name)
        if h["queue"]["depth"] or h["queue"]["in_doubt"]:
            self.add("queue", WARN if serious else OK,
                     f"{h['queue']['depth']} waiting, {h['queue']['in_doubt']} printing",
                     "They print by themselves once the fault above is fixed." if serious
                     else "", printer=name)
        if not self.test_print:
            self.add("test print", SKIP, "skipped (--no-print)", printer=name)
        elif serious:
            self.add("test print", SKIP, "not tried while the printer reports a fault",
                     "Fix the fault above, then run receiptctl doctor again.", printer=name)
        else:
            self.check_test_print(name)


    def check_setup(self, name: str, setup: dict[str, Any]) -> None:
        """The profile and dialect in use, where they came from, and where the printer's
        identity disagrees with the config."""
        if not setup:
            return
        source = setup.get("source") or {}
        used = (f"profile {setup.get('profile')} ({source.get('profile', '?')}), dialect "
                f"{setup.get('dialect')} ({source.get('dialect', '?')})")
        if setup.get("double_byte"):
            used += f", double-byte {setup['double_byte']} ({source.get('double_byte', '?')})"
        warnings = setup.get("warnings") or []
        if not warnings:
            self.add("setup", OK, used, printer=name)
        for w in warnings:
            self.add("setup", WARN, f"{used}: {w['message']}",
                     f"Set {w['setting']} = \"{w['suggested']}\" in [printers.{name}] (or "
                     f"remove the setting to follow the printer), then restart receiptd.",
                     printer=name)
    def check_test_print(self, name: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        body = {"text": f"receiptd doctor test print\n{stamp}\nIf you can read this, the "
                        "printer works.\n"}
        try:
            receipt = self._submit_test(name, body)
        except ApiError as exc:
            self.add("test print", FAIL, f"not accepted: {exc}",
                     "See the daemon log: journalctl -u receiptd.", printer=name)
            return
        deadline = time.monotonic() + self.print_timeout
        state = receipt["state"]
        while state != "printed" and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                receipt = self.client.call("GET", f"/v1/receipts/{receipt['id']}")
            except ApiError:
                continue
            state = receipt["state"]
        if state == "printed":
            how = next((p.get("confirmation") for p in receipt["prints"]
                        if p["state"] == "printed"), None)
            if how == "status":
                self.add("test print", WARN, f"receipt {receipt['id']} printed, confirmed by "
                         "status only", "Check that the slip came out: this printer cannot "
                         "confirm prints itself.", printer=name)
            else:
                self.add("test print", OK, f"receipt {receipt['id']} printed and confirmed "
                         "by the printer", printer=name)
            return
        try:
            self.client.call("POST", f"/v1/receipts/{receipt['id']}/cancel")
            kept = "cancelled it (nothing had been sent)"
        except ApiError:
            kept = "it stays queued and prints once the printer recovers"
        self.add("test print", FAIL, f"receipt {receipt['id']} not confirmed within "
                 f"{self.print_timeout:.0f} s; {kept}",
                 "Look at the printer: a blinking error light, paper or cover; then run "
                 "receiptctl printers for its state.", printer=name)

    def check_text(self, h: dict[str, Any]) -> None:
        """Would Chinese, Japanese and Korean receipts print on this printer (its double-byte
        set, else drawn in a font), or be refused with ``unprintable_text``?"""
        name = h["name"]
        text = h.get("text")
        if text is None:
            self.add("text", SKIP, "this receiptd does not report which scripts it can print",
                     printer=name)
            return
        scripts = text["scripts"]
        failing = [s for s in scripts if not s["prints"]]
        if not failing:
            own = [s["script"] for s in scripts if s["by"] == "printer"]
            drawn = [s for s in scripts if s["by"] == "font"]
            how = []
            if own:
                how.append(f"{', '.join(own)} by the printer's {text['double_byte']} set")
            if drawn:
                font_names = sorted({s["font"] for s in drawn})
                how.append(f"{', '.join(s['script'] for s in drawn)} drawn in "
                           f"{' / '.join(font_names)}")
            self.add("text", OK, f"Chinese, Japanese and Korean print: {'; '.join(how)}",
                     printer=name)
            return
        detail = ", ".join(f"{s['script']} ({s['missing']})" for s in failing)
        self.add("text", FAIL, f"cannot print {detail}: receipts with such text are refused "
                 "(unprintable_text)", _text_action(text, name), printer=name)

    def _submit_test(self, name: str, body: dict[str, Any]) -> Any:
        """Journal the test print as a test (source ``doctor``): not a sale, not counted
        as a submitted receipt, not in the cashier's list. A daemon that cannot mark it
        (an older one) takes it as an ordinary receipt, named as the doctor's."""
        path = f"/v1/printers/{name}/receipts"
        try:
            return self.client.call("POST", path, json=body,
                                    headers={"X-Receiptd-Source": "doctor"})
        except ApiError as exc:
            if exc.status != 422:
                raise
        return self.client.call("POST", path, json={**body, "order_ref": "receiptctl-doctor"})

    def check_journal(self, s: dict[str, Any]) -> None:
        journal = s["journal"]
        check = journal.get("check") or []
        background = journal.get("background_check") or {}
        if background.get("state") == "damaged":
            self.add("journal", FAIL, f"{journal['path']}: damaged, found by the check after "
                     f"start ({'; '.join(background.get('problems', [])[:3])}); receipts are "
                     "not accepted",
                     "Stop receiptd, keep a copy of the journal for support, run `receiptd "
                     "journal-check`, and restore the latest backup.")
        elif check == ["ok"]:
            # On disk the journal is the file and its WAL (often the larger of the two).
            wal = journal.get("wal_bytes", 0)
            total = journal.get("total_bytes", journal["file_bytes"] + wal)
            self.add("journal", OK, f"{journal['path']}: integrity ok, {_size(total)} "
                     f"(WAL {_size(wal)})")
        else:
            self.add("journal", FAIL, f"{journal['path']}: integrity check failed: "
                     f"{'; '.join(check[:3]) or 'no result'}",
                     "Stop receiptd, keep a copy of the journal for support, and restore the "
                     "latest backup (receiptd keeps receipts only there).")
        disk = s["disk"]
        free = disk["free_bytes"]
        if free < disk["fail_below_bytes"]:
            result = FAIL
        elif free < disk["warn_below_bytes"]:
            result = WARN
        else:
            result = OK
        self.add("disk", result, f"{_size(free)} free on {disk['path']}",
                 "" if result == OK else "Free disk space: remove old logs or files on this "
                 "disk (journalctl --vacuum-size=100M), or lower [retention] days.")

    def check_clock(self, s: dict[str, Any]) -> None:
        now = time.time()
        skew = float(s["unix_time"]) - now
        year = datetime.fromtimestamp(float(s["unix_time"]), UTC).year
        if year < MIN_YEAR:
            self.add("clock", FAIL, f"the daemon's clock says {s['time']}",
                     "Set the clock: sudo timedatectl set-ntp true (or set the date by hand); "
                     "receipt times and reprint markers depend on it.")
        elif abs(skew) > CLOCK_SKEW_WARN_S:
            self.add("clock", WARN, f"daemon clock {s['time']} is {skew:+.0f} s from this "
                     "machine's", "Enable time sync on both machines: sudo timedatectl "
                     "set-ntp true.")
        else:
            self.add("clock", OK, f"{s['time']} (within {abs(skew):.0f} s of this machine)")


def _text_action(text: dict[str, Any], printer: str) -> str:
    fixes = []
    if text.get("shipped_font") is None:
        fixes.append("Reinstall receiptd: the CJK font its package ships "
                     "(receiptd/fonts/wqy-microhei.ttc) is missing from this install.")
    if text.get("system_fonts"):
        fixes.append("Or install a font that has them (sudo apt-get install fonts-noto-cjk) "
                     "and restart receiptd.")
    else:
        fixes.append("Or install a font that has them (sudo apt-get install fonts-noto-cjk), "
                     "set system_fonts = true in [daemon] and restart receiptd.")
    if not text.get("double_byte"):
        fixes.append(f"If the printer has a Chinese, Japanese or Korean character set, name it: "
                     f"double_byte = \"gb18030\" (or big5, shift_jis, ksc5601) in "
                     f"[printers.{printer}.profile_overrides].")
    return " ".join(fixes)


def _absent_action(kind: str) -> str:
    return {
        "tcp": "Check that the printer is on and its network cable is in; print its network "
               "settings page (hold FEED while switching on) and compare the IP address with "
               "the configured url.",
        "serial": "Plug the serial/USB adapter in (ls /dev/ttyUSB* /dev/serial/by-id/) and "
                  "check the configured device path.",
        "usb": "Plug the printer's USB cable in and switch it on; lsusb must list the "
               "configured vendor:product id.",
    }.get(kind, "Check the printer's power and cable.")


def _open_action(kind: str) -> str:
    if kind == "tcp":
        return ("Another program may hold the printer's only connection (close other print "
                "servers or POS software printing directly), or switch the printer off and on.")
    return ("Check permissions: the receiptd user must be in the group that owns the device "
            "(the udev rules in systemd/60-receiptd.rules do this), and no other program may "
            "hold it open.")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def cmd_doctor(client: Client, args: argparse.Namespace) -> int:
    doctor = Doctor(client, test_print=not args.no_print, print_timeout=args.timeout)
    worst = doctor.run(args.printer)
    if args.json:
        print(json.dumps({"result": [OK, WARN, FAIL][worst],
                          "findings": [asdict(f) for f in doctor.findings]}, indent=2))
        return worst
    for f in doctor.findings:
        where = f"{f.printer}: " if f.printer else ""
        print(f"{_LABEL[f.result]:4}  {f.step:<18} {where}{f.detail}")
        if f.action:
            print(f"      {'':<18} -> {f.action}")
    print({0: "all checks passed", 1: "warnings: see above",
           2: "problems found: follow the actions above"}[worst])
    return worst


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("doctor", help="check daemon, printer, test print, journal, disk, clock")
    s.add_argument("printer", nargs="?", help="only this printer (default: all)")
    s.add_argument("--no-print", action="store_true", help="skip the test print")
    s.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for the test print's confirmation")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_doctor)
    e = sub.add_parser("events", help="a printer's state changes (newest first)")
    e.add_argument("printer")
    e.add_argument("--since", help="ISO-8601, inclusive (UTC unless a zone is given)")
    e.add_argument("--until", help="ISO-8601, exclusive")
    e.add_argument("--limit", type=int, default=50)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_events)


def cmd_events(client: Client, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    params.update({k: v for k, v in (("since", args.since), ("until", args.until)) if v})
    r = client.call("GET", f"/v1/printers/{args.printer}/events", params=params)
    if args.json:
        print(json.dumps(r, indent=2, ensure_ascii=False))
        return 0
    for e in r["events"]:
        print(f"{e['at'][:19]}  {e['previous'] or '-':>22} -> {e['state']:<22} {e['cause'] or ''}")
    return 0

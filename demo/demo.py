"""receiptd in two minutes: a receipt spooled, printed, faulted mid-slip, recovered, reprinted.

Runs the real daemon (``receiptd run``) against the built-in emulated printer on loopback and
drives it over the HTTP API the way a POS app and a cashier would. ``make demo`` runs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from receiptd.emulator import Emulator
from receiptd.testing.loopback import free_port

HERE = Path(__file__).resolve().parent.parent
RUN = HERE / "demo-run"
TOKENS = {"pos": "demo-pos-token", "cashier": "demo-cashier-token", "admin": "demo-admin-token"}


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)



def paper(emu: Emulator, since: int) -> int:
    """Print the slips that came out since slip number ``since``; return the new count."""
    slips = emu.transcript.slips()
    for slip in slips[since:]:
        print("   +" + "-" * 44 + "+")
        for line in _render_slip(slip):
            print(f"   | {line:<42} |")
        print("   +" + "-" * 44 + "+")
    return len(slips)


def _render_slip(slip: list[dict[str, Any]]) -> list[str]:
    out = []
    for entry in slip:
        kind = entry.get("type")
        if kind == "text" and (entry["text"].strip() or (out and out[-1].strip())):
            out.append(entry["text"][:42])  # feed lines collapse to one blank line
        elif kind == "cut":
            out.append("- - - - - - - - - cut - - - - - - - - - -")
        elif kind == "event":
            out.append(f"<<< printer: {entry['event']} >>>")
        elif kind == "qr":
            out.append(f"[QR {entry['data']}]"[:42])
        elif kind == "barcode":
            out.append(f"[BARCODE {entry['data']}]"[:42])
    return out


def receipt_doc(number: int, items: int) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "CAFE LUNA", "align": "center", "bold": True, "size": [2, 2]},
        {"type": "text", "text": f"Order T-{number}", "align": "center"},
        {"type": "rule"},
    ]
    blocks += [{"type": "row", "left": f"Item {i + 1}", "right": f"{2 + i}.50"}
               for i in range(items)]
    total = sum(2.5 + i for i in range(items))
    blocks += [{"type": "rule"}, {"type": "row", "left": "TOTAL", "right": f"{total:.2f}",
                                  "bold": True},
               {"type": "qr", "data": f"https://luna.example/r/{number}"}, {"type": "cut"}]
    return {"blocks": blocks}


def main() -> int:
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir()
    emu = Emulator(speed_mm_s=120.0)  # a slowish printer, so the fault lands mid-receipt
    printer_port = emu.start_tcp()
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(RUN / "cache")}
    args = [sys.executable, "-m", "receiptd.cli.daemon", "run",
            "--journal", str(RUN / "journal.db"), "--listen", f"127.0.0.1:{api_port}", "--printer",
            f"front=tcp://127.0.0.1:{printer_port}", "--log-format", "json"]
    args += [a for role, secret in TOKENS.items() for a in ("--token", f"{role}:{secret}")]
    log = (RUN / "daemon.log").open("wb")
    say(f"starting receiptd (API {url}) with an emulated printer on 127.0.0.1:{printer_port}")
    daemon = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    pos, cashier, admin = (httpx.Client(base_url=url, timeout=10,
                                        headers={"Authorization": f"Bearer {TOKENS[r]}"})
                           for r in ("pos", "cashier", "admin"))
    try:
        _wait(lambda: _healthy(url), 20, "daemon ready")
        _wait(lambda: admin.get("/v1/printers/front").json()["state"] == "online", 10, "online")
        show_printer(admin)
        seen = 0

        say("1. the POS submits a receipt: journaled first (202), then printed and confirmed")
        r1 = pos.post("/v1/printers/front/receipts",
                      json={"order_ref": "T-1001", "idempotency_key": "till1-1001",
                            "document": receipt_doc(1001, 3)})
        print(f"   HTTP {r1.status_code}: receipt {r1.json()['id']} is {r1.json()['state']}")
        rid1 = r1.json()["id"]
        _wait(lambda: pos.get(f"/v1/receipts/{rid1}").json()["state"] == "printed", 20, "print")
        print(f"   receipt {rid1}: printed (confirmed by the printer's process ID). Paper:")
        seen = paper(emu, seen)

        say("2. the paper runs out in the middle of the next receipt")
        emu.arm("paper_out", after_mm=18)
        r2 = pos.post("/v1/printers/front/receipts",
                      json={"order_ref": "T-1002", "document": receipt_doc(1002, 12)}).json()
        state = _wait(lambda: _fault(admin), 10, "paper out")
        print(f"   printer: {state['state']} ({state['category']})")
        print(f"   advice:  {state['hint']['en']}")
        print(f"   建议:    {state['hint']['zh']}")
        waiting = pos.get(f"/v1/receipts/{r2['id']}").json()["state"]
        print(f"   receipt {r2['id']}: {waiting} (waiting, nothing lost). Paper so far:")
        seen = paper(emu, seen)

        say("3. someone loads a new roll: receiptd resumes by itself")
        time.sleep(1.0)
        emu.clear("paper_out")
        done = _wait(lambda: _printed(pos, r2["id"]), 20, "reprint")
        show_printer(admin)
        for p in done["prints"]:
            print(f"   print {p['id']}: {p['kind']:<18} {p['state']:<12} {p['outcome'] or ''}")
        print("   paper (the interrupted receipt again, in full, marked):")
        seen = paper(emu, seen)

        say("4. the cashier reprints receipt 1 for a customer: a marked COPY from the journal")
        rp = cashier.post(f"/v1/receipts/{rid1}/reprint", json={"reason": "customer asked"})
        print(f"   HTTP {rp.status_code}: print {rp.json()['print']['id']} queued")
        _wait(lambda: pos.get(f"/v1/receipts/{rid1}").json()["copies"] >= 1, 20, "copy")
        seen = paper(emu, seen)

        say("5. the same idempotency key again: the same receipt, nothing printed twice")
        again = pos.post("/v1/printers/front/receipts",
                         json={"order_ref": "T-1001", "idempotency_key": "till1-1001",
                               "document": receipt_doc(1001, 3)})
        print(f"   HTTP {again.status_code}: receipt {again.json()['id']} "
              f"(Idempotent-Replayed: {again.headers.get('idempotent-replayed')})")
        print(f"\n   journal: {RUN / 'journal.db'}   daemon log: {RUN / 'daemon.log'}")
        print("   next: `make test`, or read README.md for the API and configuration.")
        return 0
    except Exception as exc:  # show the daemon's side of the story
        print(f"demo failed: {exc}\n--- daemon log ---", file=sys.stderr)
        print((RUN / "daemon.log").read_text()[-4000:], file=sys.stderr)
        return 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        emu.stop()


def show_printer(admin: httpx.Client) -> None:
    p = admin.get("/v1/printers/front").json()
    ident = " ".join(v for v in p["identity"].values() if v)
    print(f"   printer front: {p['state']}, {p['link']} {p['url']}, {ident}, "
          f"confirmation by {p['confirmation']}")


def _fault(admin: httpx.Client) -> Any:
    p = admin.get("/v1/printers/front").json()
    return p if p["state"] == "paper_out" else None


def _printed(pos: httpx.Client, rid: int) -> Any:
    r = pos.get(f"/v1/receipts/{rid}").json()
    return r if r["state"] == "printed" else None


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


if __name__ == "__main__":
    sys.exit(main())

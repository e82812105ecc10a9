"""``receiptctl``: the cashier's and admin's command line. It only speaks the HTTP API."""

# The docstring above is also ``receiptctl --help``'s description. This module holds the
# options, ``main`` and the one-call commands; journal, token and doctor commands have their own
# modules, and the HTTP client is ``receiptd.cli.client``.

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from receiptd import __version__
from receiptd.cli import doctor
from receiptd.cli import journal as ctl_journal
from receiptd.cli import tokens as ctl_tokens
from receiptd.cli.client import ApiError, Client, table


def _print_body(path: str) -> dict[str, Any]:
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return {"text": raw}  # a plain-text file prints as text
    if isinstance(body, dict) and "blocks" in body:
        return {"document": body}
    if isinstance(body, dict):
        return body
    raise SystemExit("receiptctl: the file must hold a document, a submission or plain text")


def cmd_print(c: Client, a: argparse.Namespace) -> int:
    body = _print_body(a.file)
    if a.order_ref:
        body["order_ref"] = a.order_ref
    if a.idempotency_key:
        body["idempotency_key"] = a.idempotency_key
    r = c.call("POST", f"/v1/printers/{a.printer}/receipts", json=body)
    print(f"receipt {r['id']} {r['state']} on {r['printer']}")
    return 0


def cmd_show(c: Client, a: argparse.Namespace) -> int:
    if a.text or a.png:
        ctl_journal.show_preview(c, a)
        return 0
    r = c.receipt(a.id)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"receipt {r['id']} on {r['printer']}: {r['state']}  order={r.get('order_ref') or '-'}")
    if r.get("printer_state"):
        print(f"printer {r['printer']}: {r['printer_state']}")
    if r.get("held_reason"):
        print(f"held: {r['held_reason']}")
        print(f"  print it now: receiptctl reprint {r['id']}")
    rows = [[str(p["id"]), p["kind"], p["state"], str(p.get("copy_number") or ""),
             (p.get("finished_at") or p.get("created_at") or "")[:19], p.get("outcome") or ""]
            for p in r["prints"]]
    print(table(rows, ["PRINT", "KIND", "STATE", "COPY", "AT (UTC)", "OUTCOME"]))
    return 0


def cmd_reprint(c: Client, a: argparse.Namespace) -> int:
    if a.last:
        r = c.reprint_last(a.last, a.reason)
    elif a.order:
        r = c.reprint_order(a.order, a.reason)
    else:
        r = c.reprint(a.id, a.reason)
    print(f"receipt {r['receipt']['id']}: copy queued as print {r['print']['id']}")
    return 0


def cmd_cancel(c: Client, a: argparse.Namespace) -> int:
    r = c.cancel(a.id)
    print(f"receipt {r['id']} {r['state']}")
    return 0


def cmd_printers(c: Client, a: argparse.Namespace) -> int:
    printers = c.printers()
    if a.json:
        print(json.dumps({"printers": printers}, indent=2, ensure_ascii=False))
        return 0
    # A pos token sees less of a printer than a cashier or an admin: show what there is.
    rows = [[p["name"], p["state"], p.get("since", "")[11:19],
             str(p["queue"]["depth"]),
             p["hint"]["en"] if "hint" in p else
             ("printing held" if p.get("printing_held") else "ready")] for p in printers]
    print(table(rows, ["PRINTER", "STATE", "SINCE", "QUEUE", "ADVICE"]))
    return 0


def cmd_held(c: Client, a: argparse.Namespace) -> int:
    found = c.held(a.printer)["receipts"]
    if a.json:
        print(json.dumps({"receipts": found}, indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no receipt waits for a decision")
        return 0
    rows = [[str(r["id"]), r["printer"], r.get("order_ref") or "-", (r["created_at"] or "")[:19],
             r.get("held_reason") or ""] for r in found]
    print(table(rows, ["RECEIPT", "PRINTER", "ORDER", "TAKEN (UTC)", "WHY HELD"]))
    print("print one now: receiptctl reprint ID   (or leave it: it stays in the journal)")
    return 0


def cmd_recover(c: Client, a: argparse.Namespace) -> int:
    r = c.recover(a.printer)
    print(f"{r['name']}: {r['state']}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="receiptctl", description=__doc__)
    p.add_argument("--version", action="version", version=f"receiptctl {__version__}")
    p.add_argument("--url", default=os.environ.get("RECEIPTD_URL", "http://127.0.0.1:8631"))
    p.add_argument("--socket", default=os.environ.get("RECEIPTD_SOCKET"),
                   help="talk over this Unix socket instead")
    p.add_argument("--token", default=os.environ.get("RECEIPTD_TOKEN"))
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("print", help="submit a receipt (document JSON, submission JSON or text)")
    s.add_argument("file", help="file, or - for standard input")
    s.add_argument("--printer", "-p", default="front")
    s.add_argument("--order-ref")
    s.add_argument("--idempotency-key")
    s.set_defaults(func=cmd_print)
    s = sub.add_parser("receipts", help="search the journal")
    s.add_argument("--printer")
    s.add_argument("--order-ref")
    s.add_argument("--state",
                   choices=["queued", "printing", "printed", "cancelled", "held", "failed"])
    s.add_argument("--since", help="ISO-8601, inclusive")
    s.add_argument("--until", help="ISO-8601, exclusive")
    s.add_argument("--limit", type=int, help="page size (1-500, default 50)")
    s.add_argument("--before-id", type=int, help="the next page: the value shown after a page")
    s.add_argument("--all", action="store_true", help="follow every page")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=ctl_journal.cmd_receipts)
    s = sub.add_parser("show", help="one receipt and its prints, or its electronic copy")
    s.add_argument("id", type=int)
    s.add_argument("--json", action="store_true")
    s.add_argument("--text", action="store_true", help="the slip as text")
    s.add_argument("--png", metavar="FILE", help="write the slip as a PNG image (- for stdout)")
    s.add_argument("--copy", type=int, metavar="N", help="with COPY N's marker")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("reprint", help="queue a marked copy")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("id", type=int, nargs="?")
    g.add_argument("--last", metavar="PRINTER", help="the newest receipt of this printer")
    g.add_argument("--order", metavar="REF", help="the newest receipt of this order")
    s.add_argument("--reason")
    s.set_defaults(func=cmd_reprint)
    s = sub.add_parser("cancel", help="cancel a receipt nothing of which was sent")
    s.add_argument("id", type=int)
    s.set_defaults(func=cmd_cancel)
    s = sub.add_parser("printers", help="printer health")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_printers)
    s = sub.add_parser("held", help="receipts waiting for a decision (stale, or held after "
                       "failed attempts): print now with reprint, or leave them")
    s.add_argument("--printer")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_held)
    s = sub.add_parser("recover", help="recover a printer from a cutter error or jam (DLE ENQ)")
    s.add_argument("printer")
    s.set_defaults(func=cmd_recover)
    doctor.add_parser(sub)
    ctl_journal.add_commands(sub)
    ctl_tokens.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    client = Client(args.url, args.token, args.socket)
    try:
        result: int = args.func(client, args)
        return result
    except ApiError as exc:
        print(f"receiptctl: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``receiptctl`` commands around the journal: the order check, paged search, the electronic
copy, and the admin's ``journal stats|check|backup``. They only speak the HTTP API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote  # an order ref may contain '/'

import httpx

from receiptd.cli.client import Client, error_of, table, unreachable


def receipt_rows(receipts: list[dict[str, Any]]) -> list[list[str]]:
    return [[str(r["id"]), r["printer"], r["state"], r.get("order_ref") or "-",
             str(r["copies"]), (r.get("created_at") or "")[:19].replace("T", " "),
             (r.get("printed_at") or "")[:19].replace("T", " ")] for r in receipts]


RECEIPT_HEADER = ["ID", "PRINTER", "STATE", "ORDER", "COPIES", "CREATED (UTC)", "PRINTED (UTC)"]


def cmd_receipts(c: Client, a: argparse.Namespace) -> int:
    """One page (newest first), or every page with ``--all``."""
    params: dict[str, Any] = {k: v for k, v in (
        ("printer", a.printer), ("order_ref", a.order_ref), ("state", a.state),
        ("since", a.since), ("until", a.until), ("limit", a.limit),
        ("before_id", a.before_id)) if v is not None}
    receipts: list[dict[str, Any]] = []
    while True:
        page = c.call("GET", "/v1/receipts", params=params)
        receipts += page["receipts"]
        nxt = page.get("next_before_id")
        if not a.all or nxt is None:
            break
        params["before_id"] = nxt
    if a.json:
        print(json.dumps({"receipts": receipts, "next_before_id": None if a.all else nxt},
                         indent=2))
        return 0
    if not receipts:
        print("no receipts")
        return 0
    print(table(receipt_rows(receipts), RECEIPT_HEADER))
    if nxt is not None and not a.all:
        print(f"-- more: add --before-id {nxt} for the next page, or --all")
    return 0


def cmd_order(c: Client, a: argparse.Namespace) -> int:
    """Exit status 0 when a receipt of the order printed, 3 when none did."""
    r = c.call("GET", f"/v1/orders/{quote(a.order_ref, safe='')}")
    if a.json:
        print(json.dumps(r, indent=2))
    elif not r["receipts"]:
        print(f"order {r['order_ref']}: no receipt was ever submitted")
    else:
        verdict = "PRINTED" if r["printed"] else "NOT PRINTED"
        print(f"order {r['order_ref']}: {verdict}")
        print(table(receipt_rows(r["receipts"]), RECEIPT_HEADER))
    return 0 if r["printed"] else 3


def show_preview(c: Client, a: argparse.Namespace) -> None:
    """``show ID --text`` prints the slip as text; ``--png FILE`` writes the image."""
    copy = {"copy": a.copy} if a.copy else {}
    if a.text:
        body = c.call("GET", f"/v1/receipts/{a.id}/preview", params={"format": "txt", **copy})
        sys.stdout.write(body.decode("utf-8") if isinstance(body, bytes) else str(body))
    if a.png:
        data = c.call("GET", f"/v1/receipts/{a.id}/preview", params={"format": "png", **copy})
        _write_file(a.png, data)
        print(f"receipt {a.id}: preview written to {a.png}", file=sys.stderr)


def _write_file(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        return
    tmp = Path(f"{path}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cmd_journal(c: Client, a: argparse.Namespace) -> int:
    if a.action == "stats":
        r = c.call("GET", "/v1/journal/stats")
        if a.json:
            print(json.dumps(r, indent=2))
            return 0
        states = ", ".join(f"{k} {v}" for k, v in r["receipts"].items())
        used = (r["page_count"] - r["freelist_count"]) * r["page_size"]
        print(f"receipts: {states}")
        # On disk: the file and its WAL, which holds the newest pages until a checkpoint.
        total = r.get("total_bytes", r["file_bytes"] + r["wal_bytes"])
        print(f"size: {total:,} bytes on disk (file {r['file_bytes']:,}, {used:,} used; WAL "
              f"{r['wal_bytes']:,}), schema version {r['schema_version']}")
        return 0
    if a.action == "check":
        r = c.call("POST", "/v1/journal/check", timeout=None)
        print("ok" if r["ok"] else "\n".join(["DAMAGED:", *r["problems"]]))
        return 0 if r["ok"] else 4
    if a.action == "purge":
        r = c.call("POST", "/v1/journal/purge", timeout=None)
        print(f"purged {r['purged']} receipts")
        return 0
    # backup: streamed to FILE.part, renamed when complete
    if not a.file:
        raise SystemExit("receiptctl: journal backup needs a FILE (or - for standard output)")
    size = _stream_to(c, "/v1/journal/backup", a.file)
    print(f"backup written to {a.file} ({size:,} bytes)", file=sys.stderr)
    return 0


def _stream_to(c: Client, path: str, dest: str) -> int:
    try:
        with c.http.stream("GET", path, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise error_of(response)
            if dest == "-":
                size = 0
                for chunk in response.iter_bytes():
                    sys.stdout.buffer.write(chunk)
                    size += len(chunk)
                return size
            tmp = Path(f"{dest}.part")
            with tmp.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
            return Path(dest).stat().st_size
    except httpx.HTTPError as exc:
        raise unreachable(exc) from exc


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``order`` and ``journal`` on receiptctl's subparsers."""
    s = sub.add_parser("order", help="did this order's receipt print? (duplicate check)")
    s.add_argument("order_ref")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_order)
    s = sub.add_parser("journal", help="journal stats, integrity check, online backup, purge")
    s.add_argument("action", choices=["stats", "check", "backup", "purge"])
    s.add_argument("file", nargs="?", help="backup: where to write it (- for stdout)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_journal)

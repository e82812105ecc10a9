"""``receiptctl token add|list|revoke``: the admin's API tokens, through ``/v1/tokens``."""

from __future__ import annotations

import argparse
import json

from receiptd.cli.client import Client, table


def cmd_add(c: Client, a: argparse.Namespace) -> int:
    r = c.call("POST", "/v1/tokens", json={"name": a.name, "role": a.role})
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"token {r['name']} ({r['role']}) created. Its secret, shown only this once:")
    print(r["secret"])
    return 0


def cmd_list(c: Client, a: argparse.Namespace) -> int:
    r = c.call("GET", "/v1/tokens", params={"include_revoked": str(a.all).lower()})
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    rows = [[t["name"], t["role"], t["source"], t.get("key_id") or "-",
             (t.get("created_at") or "-")[:19], t.get("created_by") or "-",
             (t.get("revoked_at") or "-")[:19]] for t in r["tokens"]]
    print(table(rows, ["NAME", "ROLE", "SOURCE", "KEY ID", "CREATED (UTC)", "BY", "REVOKED"]))
    return 0


def cmd_revoke(c: Client, a: argparse.Namespace) -> int:
    r = c.call("POST", f"/v1/tokens/{a.name}/revoke")
    print(f"token {r['name']} revoked at {r['revoked_at']}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tok = sub.add_parser("token", help="API tokens (admin): add, list, revoke")
    ts = tok.add_subparsers(dest="token_command", required=True)
    s = ts.add_parser("add", help="create a token; prints its secret once")
    s.add_argument("name", help="recorded on every receipt it submits (a-z 0-9 _ . -)")
    s.add_argument("--role", required=True, choices=["pos", "cashier", "admin"])
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_add)
    s = ts.add_parser("list", help="configured and stored tokens (never their secrets)")
    s.add_argument("--all", action="store_true", help="include revoked tokens")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = ts.add_parser("revoke", help="revoke a stored token now")
    s.add_argument("name")
    s.set_defaults(func=cmd_revoke)

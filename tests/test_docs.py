"""README.md must mention every API route and every ``receiptctl`` command (after sqlite-utils'
``tests/test_docs.py``): a route or command added without documentation fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from receiptd.api.app import create_app
from receiptd.cli import ctl
from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _routes() -> list[tuple[str, str]]:
    config = load_config(printers=["front=tcp://127.0.0.1:9"], tokens=["admin:docs-test-secret"])
    schema = create_app(Daemon(config)).openapi()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items()
                  for method in ops)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> list[str]:
    """``receiptctl X``, and ``receiptctl X Y`` for each choice of a command's first
    positional argument that is a fixed set (e.g. ``journal stats``)."""
    out = []
    for name, sub in _subcommands(ctl._parser()).items():
        out.append(name)
        for action in sub._actions:
            if not action.option_strings and action.choices and not isinstance(
                    action, argparse._SubParsersAction):
                out += [f"{name} {choice}" for choice in action.choices]
                break
        out += [f"{name} {nested}" for nested in _subcommands(sub)]
    return out


def route_pattern(path: str) -> re.Pattern[str]:
    """``/v1/receipts/{receipt_id}/reprint`` matches ``/v1/receipts/{receipt_id}/reprint`` and
    ``/v1/receipts/42/reprint`` (an example value) in README, but not a longer path."""
    parts = re.split(r"\{[^}]+\}", path)
    body = r"(?:\{[^}]+\}|[^/\s'\"?{}]+)".join(re.escape(p) for p in parts)
    return re.compile(body + r"(?![\w/-])")


ROUTES = _routes()
COMMANDS = _commands()


def test_there_is_something_to_check() -> None:
    assert ("POST", "/v1/printers/{printer}/receipts") in ROUTES
    assert "journal backup" in COMMANDS and "reprint" in COMMANDS


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_is_documented(method: str, path: str) -> None:
    assert route_pattern(path).search(README), f"README.md does not mention {method} {path}"


@pytest.mark.parametrize("command", COMMANDS)
def test_receiptctl_command_is_documented(command: str) -> None:
    assert re.search(rf"receiptctl {re.escape(command)}\b", README), (
        f"README.md does not mention `receiptctl {command}`")


def test_route_pattern() -> None:
    pattern = route_pattern("/v1/receipts/{receipt_id}/reprint")
    assert pattern.search("curl http://x/v1/receipts/42/reprint")
    assert pattern.search("`POST /v1/receipts/{receipt_id}/reprint`")
    assert not pattern.search("/v1/receipts/42/reprint-all")
    assert not route_pattern("/v1/receipts").search("/v1/receipts/42")
    assert route_pattern("/v1/receipts").search("'http://x/v1/receipts?order_ref=T-1'")

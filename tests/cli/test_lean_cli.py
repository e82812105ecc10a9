"""The processes ``receiptd`` starts build their pydantic models without pydantic's plugin
loader (``receiptd.cli._noplugins``): no ``importlib.metadata`` and what it brings (0.6 MB of
an idle daemon, bench/memory.py), and the models validate as before. Whoever names plugins
to leave out in ``PYDANTIC_DISABLE_PLUGINS`` keeps pydantic's own loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, sys
from pathlib import Path

import receiptd.cli.daemon
from receiptd.api.app import create_app
from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon
from receiptd.document import Content
from pydantic import ValidationError

daemon = Daemon(load_config(None, journal=Path(sys.argv[1]),
                            printers=["front=tcp://127.0.0.1:9"]))
daemon.open_journal()
create_app(daemon)
content = Content.model_validate({"document": {"blocks": [{"type": "text", "text": "LUNA"}]}})
try:
    Content.model_validate({"document": {"blocks": [{"type": "text", "text": 7}]}})
    refused = False
except ValidationError:
    refused = True
print(json.dumps({
    "loader": sys.modules["pydantic.plugin._loader"].__name__,
    "metadata": sorted(n for n in ("importlib.metadata", "zipfile", "csv")
                       if sys.modules.get(n) is not None),
    "text": content.document.blocks[0].text,
    "refused": refused,
}))
"""


def _run(tmp_path: Path, **env: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "journal.db")],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
        env={"ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos"),
             "PATH": "/usr/bin:/bin", **env},
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_daemon_builds_its_models_without_the_plugin_loader(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result == {"loader": "receiptd.cli._noplugins", "metadata": [], "text": "LUNA",
                      "refused": True}


def test_plugins_named_in_the_environment_keep_pydantics_loader(tmp_path: Path) -> None:
    result = _run(tmp_path, PYDANTIC_DISABLE_PLUGINS="some-plugin")
    assert result["loader"] == "pydantic.plugin._loader"
    assert result["text"] == "LUNA" and result["refused"] is True

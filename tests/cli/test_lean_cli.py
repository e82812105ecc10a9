"""What ``receiptd.cli`` leaves out of the processes it starts (bench/memory.py).

* Pydantic's plugin loader (``receiptd.cli._noplugins``): no ``importlib.metadata`` and what it
  brings (0.5 MB of an idle daemon), and the models validate as before. Whoever names plugins
  to leave out in ``PYDANTIC_DISABLE_PLUGINS`` keeps pydantic's own loader.
* uvicorn's command line (``receiptd.cli._uvicorn``): no click, no ``multiprocessing`` (1.5
  MB), while ``uvicorn.Server``, ``uvicorn.main`` and ``uvicorn.run`` are what they were.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, sys
from pathlib import Path

import receiptd.cli.daemon, receiptd.daemon.serve
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
    "cli": sorted(n for n in ("click", "multiprocessing") if sys.modules.get(n) is not None),
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
    assert result == {"loader": "receiptd.cli._noplugins", "metadata": [], "cli": [],
                      "text": "LUNA", "refused": True}


def test_plugins_named_in_the_environment_keep_pydantics_loader(tmp_path: Path) -> None:
    result = _run(tmp_path, PYDANTIC_DISABLE_PLUGINS="some-plugin")
    assert result["loader"] == "pydantic.plugin._loader"
    assert result["text"] == "LUNA" and result["refused"] is True


_UVICORN = r"""
import json, sys
import receiptd.cli
import uvicorn
import uvicorn.server
from uvicorn.main import Server

lean = "click" not in sys.modules
same_server = uvicorn.Server is Server is uvicorn.server.Server
from uvicorn.main import print_version  # a name the stand-in does not hold: the real module
real = sys.modules["uvicorn.main"]
try:
    uvicorn.main(["--version"])
    code = None
except SystemExit as exc:
    code = exc.code
print(json.dumps({"lean": lean, "same_server": same_server, "version_exit": code,
                  "real": real.print_version is print_version,
                  "main_is_callable": callable(uvicorn.main) and callable(uvicorn.run)}))
"""


def test_uvicorns_command_line_is_there_when_asked_for(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _UVICORN], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert "Running uvicorn" in out.stdout
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"lean": True, "same_server": True, "version_exit": 0, "real": True,
                      "main_is_callable": True}

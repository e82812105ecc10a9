"""The running daemon serves its API with Starlette and pydantic alone: building it the way
``receiptd run`` does imports no FastAPI (about 11 MB of an idle daemon's memory), the OpenAPI
document's builder is imported only when the document is first asked for, and the ePOS-Print
package only where ePOS-Print is served."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from receiptd.api.origin import EPOS_PATH
from receiptd.epos import SERVICE_PATH

_CHILD = r"""
import json, sys
from pathlib import Path

from receiptd.config import load_config
from receiptd.daemon.wiring import Daemon
import receiptd.cli.daemon, receiptd.daemon.serve
from receiptd.api.app import create_app

daemon = Daemon(load_config(None, journal=Path(sys.argv[1]), epos=False,
                            printers=["front=tcp://127.0.0.1:9"]))
daemon.open_journal()
create_app(daemon)
epos = "receiptd.epos" in sys.modules
app = create_app(Daemon(load_config(None, journal=Path(sys.argv[1]), epos=True,
                                    printers=["front=tcp://127.0.0.1:9"])))
built = sorted({n.split(".")[0] for n in sys.modules if n.split(".")[0] in (
    "fastapi", "fastapi_offline")})
document = "receiptd.api.openapi" in sys.modules
paths = len(app.openapi()["paths"])
print(json.dumps({"built": built, "document_before": document, "paths": paths, "epos": epos,
                  "after": sorted({n.split(".")[0] for n in sys.modules
                                   if n.split(".")[0] in ("fastapi", "fastapi_offline")})}))
"""


def test_building_the_api_imports_no_fastapi(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "journal.db")],
        capture_output=True, text=True, timeout=120, check=True,
        env={"ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos"),
             "PATH": "/usr/bin:/bin"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["built"] == [], result
    assert result["document_before"] is False, result
    assert result["epos"] is False, result
    assert result["paths"] > 20 and result["after"] == [], result


def test_the_browser_guard_knows_the_epos_path() -> None:
    assert EPOS_PATH == SERVICE_PATH

"""``receiptd-cups-backend install``: the backend file cupsd will accept and run as the chosen
user, the config written once with the token kept from other users, and the lpadmin line.

The private cupsd of tests/cups/test_cups_queue.py runs the backend this installer wrote.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path


def install(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp / "backend").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "receiptd.cli.cups", "install", "--dir", str(tmp / "backend"),
         "--config", str(tmp / "etc" / "cups.toml"), *args],
        capture_output=True, text=True, timeout=120)


def test_install_as_lp_or_root_sets_the_mode_cupsd_reads(tmp_path: Path) -> None:
    backend = tmp_path / "backend" / "receiptd"
    for run_as, mode in (("lp", 0o755), ("root", 0o700)):
        r = install(tmp_path, "--run-as", run_as, "--printer", "bar")
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(backend.stat().st_mode) == mode, run_as
        assert f"cupsd runs it as {run_as}" in r.stdout
        assert "lpadmin -p bar -E -v receiptd://bar -m raw" in r.stdout
    text = backend.read_text()
    assert text.startswith(f"#!{sys.executable} -I\n")
    assert str(tmp_path / "etc" / "cups.toml") in text  # a config path other than the default

    # The installed file is the backend: run with no arguments, it names its scheme.
    out = subprocess.run([str(backend)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("network receiptd ")


def test_the_config_is_written_once_and_kept_from_other_users(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "cups.toml"
    r = install(tmp_path, "--url", "http://127.0.0.1:9999")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert 'url = "http://127.0.0.1:9999"' in config.read_text()
    config.write_text('url = "http://127.0.0.1:8631"\ntoken = "kept"\n')
    r = install(tmp_path, "--url", "http://127.0.0.1:1")
    assert r.returncode == 0 and f"kept {config}" in r.stdout
    assert 'token = "kept"' in config.read_text()

from __future__ import annotations

from pathlib import Path

import pytest

from receiptd.config import effective, load_config
from receiptd.errors import ConfigError


def test_file_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text(
        '[daemon]\njournal = "/tmp/j.db"\n'
        '[printers.front]\nurl = "tcp://10.0.0.5:9100"\nprofile = "TM-T88V"\n'
        '[[tokens]]\nname = "till-1"\nrole = "pos"\nsecret = "0123456789"\n'
    )
    config = load_config(cfg, listen="127.0.0.1:9999", printers=["front=tcp://127.0.0.1:9100",
                                                                 "back=serial:///dev/ttyUSB0"],
                         tokens=["admin:adminsecret"])
    assert config.daemon.listen == "127.0.0.1:9999"
    assert config.printers["front"].url == "tcp://127.0.0.1:9100"
    assert config.printers["front"].profile == "TM-T88V"
    assert config.printers["back"].url == "serial:///dev/ttyUSB0"
    assert [(t.name, t.role) for t in config.tokens] == [("till-1", "pos"), ("admin", "admin")]
    assert all(t["secret"] == "***" for t in effective(config)["tokens"])


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        ("[daemon]\njurnal = 'x'\n", "daemon.jurnal"),
        ("[printers.front]\nurl = 'tcp://x'\nspeed = 3\n", "printers.front.speed"),
        ("[printers.front]\nprofile = 'TM-T88V'\n", "printers.front.url"),
        ("[daemon]\nlisten = 'nope'\n", "daemon.listen"),
        ("[[tokens]]\nname='a'\nrole='root'\nsecret='0123456789'\n", "tokens.0.role"),
        ("[printers.'Bad Name']\nurl = 'tcp://x'\n", "printers"),
    ],
)
def test_errors_name_the_full_key_path(tmp_path: Path, toml: str, path: str) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert path in str(exc.value)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="NAME=URL"):
        load_config(printers=["front"])

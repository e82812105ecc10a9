from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from wcwidth import wcswidth

from receiptd.config import effective, load_config
from receiptd.emulator import Emulator
from receiptd.errors import ConfigError

from ..support import DaemonProcess, slips_with


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


# -- one-line printer options: --printer NAME=URL?profile=…&double_byte=…&dialect=… -----------


def test_printer_options_leave_the_link_its_own_keys() -> None:
    config = load_config(printers=[
        "front=serial:///dev/ttyUSB0?baudrate=38400&profile=TM-T20II&double_byte=gb18030"
        "&dialect=escpos&rtscts=1",
    ])
    front = config.printers["front"]
    assert front.url == "serial:///dev/ttyUSB0?baudrate=38400&rtscts=1"
    assert front.profile == "TM-T20II"
    assert front.profile_overrides == {"double_byte": "gb18030"}


def test_printer_options_without_link_keys_leave_a_bare_url() -> None:
    config = load_config(printers=["k=tcp://10.0.0.9:9100?double_byte=big5"])
    assert config.printers["k"].url == "tcp://10.0.0.9:9100"
    assert config.printers["k"].profile == "TM-T88V"  # not given: the default, as in a file
    assert config.printers["k"].profile_overrides == {"double_byte": "big5"}


def test_printer_options_go_where_the_file_puts_them(tmp_path: Path) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text('[printers.front]\nurl = "tcp://10.0.0.5:9100"\nprofile = "TM-P20"\n'
                   '[printers.front.profile_overrides]\ncolumns = 30\n')
    config = load_config(cfg, printers=["front=tcp://10.0.0.6:9100?double_byte=shift_jis"])
    front = config.printers["front"]
    assert (front.url, front.profile) == ("tcp://10.0.0.6:9100", "TM-P20")
    assert front.profile_overrides == {"columns": 30, "double_byte": "shift_jis"}
    via_file = tmp_path / "same.toml"
    via_file.write_text('[printers.front]\nurl = "tcp://10.0.0.6:9100"\nprofile = "TM-P20"\n'
                        '[printers.front.profile_overrides]\ncolumns = 30\n'
                        'double_byte = "shift_jis"\n')
    assert effective(load_config(via_file)) == effective(config)


def test_printer_option_link_keys_still_checked_by_the_link() -> None:
    from receiptd.links import link_for_url

    config = load_config(printers=["u=usb://04b8:0e28?serial=ABC&profile=TM-T88V"])
    assert config.printers["u"].url == "usb://04b8:0e28?serial=ABC"
    link_for_url(config.printers["u"].url)  # the link parses what it was left
    with pytest.raises(ConfigError, match="unknown query parameter 'colour'"):
        link_for_url(load_config(printers=["u=tcp://h:9100?colour=red&profile=TM-T88V"])
                     .printers["u"].url)


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ("front=tcp://h:9100?dialect=star&profile=TM-T88V",
         "printers.front.dialect: star needs a Star profile"),
        ("front=tcp://h:9100?dialect=zpl", "dialect='zpl': expected escpos or star"),
        ("front=tcp://h:9100?profile=TM-NOPE", "printers.front.profile: unknown printer profile"),
        ("front=tcp://h:9100?double_byte=utf8", "double_byte: must be \"none\" or one of"),
        ("front=tcp://h:9100?profile=", "profile= is empty"),
        ("front=tcp://h:9100?profile=TM-P20&profile=TM-T88V", "profile given twice"),
    ],
)
def test_printer_option_errors_name_the_item(item: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(printers=[item])
    assert str(exc.value).startswith(f"--printer {item!r}: ")
    assert why in str(exc.value)


def test_printer_options_double_byte_prints_cjk_as_text(
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    """No config file: the one ``--printer`` line makes the daemon send Chinese as GB18030
    double-byte text, which the emulator (a GB18030 model) prints as text, not as images."""
    emu = Emulator(speed_mm_s=2000.0, columns=48, cjk="gb18030")
    emu.start_tcp()
    try:
        daemon = daemon_factory(
            {"front": f"{emu.tcp_url}?connect_timeout=2&profile=TM-T20II&double_byte=gb18030"
                      "&dialect=escpos"})
        title = "ONE-LINE 收银小票"
        receipt = daemon.submit({"document": {"blocks": [
            {"type": "text", "text": title},
            {"type": "row", "left": "宫保鸡丁", "right": "38.00"},
            {"type": "cut"},
        ]}})
        daemon.wait_printed(receipt["id"])
        [slip] = slips_with(emu, "ONE-LINE")
        assert not [e for e in slip if e["type"] == "image"]  # all of it sent as text
        printed = [e["text"] for e in slip if e["type"] == "text"]
        assert printed[0] == title
        assert printed[1].startswith("宫保鸡丁") and printed[1].endswith("38.00")
        assert wcswidth(printed[1]) == 48  # TM-T20II's 48 columns: the profile came through
    finally:
        emu.stop()

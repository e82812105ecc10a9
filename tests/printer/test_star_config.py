"""A printer's dialect in the configuration: escpos by default, star from a file or a URL."""

from __future__ import annotations

import pytest

from receiptd.config import STAR_WINDOW_PRINTS, build_config, load_config
from receiptd.errors import ConfigError


def test_escpos_is_the_default() -> None:
    config = load_config(printers=["front=tcp://127.0.0.1:9100"])
    assert config.printers["front"].dialect == "escpos"


def test_star_from_the_url_leaves_the_link_its_own_keys() -> None:
    config = load_config(printers=["bar=serial:///dev/ttyUSB0?baudrate=9600&dialect=star&profile=TSP600"])
    bar = config.printers["bar"]
    assert bar.dialect == "star"
    assert bar.url == "serial:///dev/ttyUSB0?baudrate=9600"


def test_star_from_a_file_section() -> None:
    config = build_config({"printers": {"bar": {"url": "tcp://127.0.0.1:9100",
                                                "dialect": "star", "profile": "TSP600"}}})
    assert config.printers["bar"].dialect == "star"


@pytest.mark.parametrize(("entry", "why"), [
    ({"dialect": "zpl"}, "printers.bar.dialect"),
    ({"dialect": "star", "virtual_port": "127.0.0.1:9101"}, "raw ESC/POS"),
    ({"dialect": "star", "send_window_prints": STAR_WINDOW_PRINTS + 1}, "ETB counter"),
])
def test_refusals_name_the_key(entry: dict[str, object], why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_config({"printers": {"bar": {"url": "tcp://127.0.0.1:9100", "profile": "TSP600",
                                           **entry}}})
    assert why in str(exc.value)


def test_url_dialect_errors_name_the_item() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(printers=["front=tcp://h:9100?dialect=zpl"])
    assert str(exc.value) == ("--printer 'front=tcp://h:9100?dialect=zpl': dialect='zpl': "
                              "expected escpos or star")


def test_a_star_printer_needs_a_star_profile() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(printers=["bar=tcp://127.0.0.1:9100?dialect=star&profile=TM-T88V"])
    assert "printers.bar.dialect: star needs a Star profile" in str(exc.value)
    config = load_config(printers=["bar=tcp://127.0.0.1:9100?dialect=star&profile=TSP600"])
    assert config.printers["bar"].profile == "TSP600"
    # None named: Star's own default until the printer's identity says more.
    config = load_config(printers=["bar=tcp://127.0.0.1:9100?dialect=star"])
    assert config.printers["bar"].profile_name == "TSP600"

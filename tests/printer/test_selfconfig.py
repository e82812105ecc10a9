"""A printer's settings filled in from its identity (``printer.selfconfig``), and the identity
questions paired with their answers (``printer.queries``)."""

from __future__ import annotations

from receiptd.config import load_config
from receiptd.printer.queries import InfoQueries
from receiptd.printer.selfconfig import SelfConfig, named_settings


def setup_for(url: str) -> SelfConfig:
    config = load_config(printers=[f"front={url}"])
    return SelfConfig("front", config.printers["front"], config.profiles)


def test_named_settings_are_what_the_config_says() -> None:
    config = load_config(printers=["a=tcp://h:9100", "b=tcp://h:9100?profile=TM-T20II",
                                   "c=tcp://h:9100?double_byte=big5&dialect=escpos"])
    assert named_settings(config.printers["a"]) == frozenset()
    assert named_settings(config.printers["b"]) == {"profile"}
    assert named_settings(config.printers["c"]) == {"double_byte", "dialect"}


def test_the_profile_follows_the_identity_only_where_the_config_is_silent() -> None:
    setup = setup_for("tcp://h:9100")
    assert setup.profile({}).name == "TM-T88V"  # nothing known yet: the default
    ident = {"maker": "EPSON", "model": "TM-T20II"}
    assert setup.profile(ident).name == "TM-T20II"
    ident["font"] = "CHINA GB2312"  # the last answer arrives later
    assert setup.profile(ident).double_byte == "gb18030"
    assert setup.report()["source"] == {"profile": "identity", "double_byte": "identity",
                                        "dialect": "default"}
    named = setup_for("tcp://h:9100?profile=TM-T88V&double_byte=big5")
    profile = named.profile(ident)
    assert (profile.name, profile.double_byte) == ("TM-T88V", "big5")
    assert {w["setting"] for w in named.report()["warnings"]} == {"profile", "double_byte"}


def test_an_escpos_printer_that_says_it_is_a_star_is_told_not_switched() -> None:
    setup = setup_for("tcp://h:9100")
    assert setup.profile({"maker": "Star Micronics", "model": "TSP650II"}).name == "TM-T88V"
    [warning] = setup.report()["warnings"]
    assert (warning["setting"], warning["suggested"]) == ("dialect", "star")


def test_a_question_the_printer_left_unanswered_does_not_shift_the_answers() -> None:
    q = InfoQueries(maintenance_interval_s=300)
    q.identity()
    q.maintenance(now=0.0)
    answers = [q.answer(text) for text in (b"TM-T20II", b"EPSON", b"1.01", b"SN1")]
    # GS I 69 unanswered (a clone without it): the next block is the first counter.
    counter = q.answer(b"1234")
    assert [a.key for a in answers if a] == ["model", "maker", "firmware", "serial"]
    assert counter is not None and (counter.kind, counter.key) == ("maintenance", "lines_fed")

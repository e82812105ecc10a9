"""A stale receipt in the cashier's page (``hold_after_s``): held when the fault clears, shown
live in plain words, and printed, marked DELAYED, on the cashier's word."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document, slips_with, wait_until
from .browser import click, screenshots, sign_in, text_of, wait

pytestmark = pytest.mark.timeout(180)


def test_a_receipt_held_stale_after_a_long_fault_prints_on_the_cashiers_word(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome, tmp_path: Path,
) -> None:
    """``hold_after_s``: a receipt that waited through the fault longer than that is held when
    the fault clears. The cashier is told why in plain words, live, and prints it."""
    emulator.start_tcp()
    config = tmp_path / "stale.toml"
    config.write_text(f'[printers.front]\nurl = "{emulator.tcp_url}"\nhold_after_s = 1\n')
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--config", str(config)])
    sign_in(browser, daemon.url, TOKENS["cashier"])
    wait(browser, lambda d: d.find_element(By.ID, "all-ok"), "all printers ready")
    emulator.inject("paper_out")
    daemon.wait_state("paper_out")
    rid = daemon.submit({"document": sample_document("STALE-C"), "order_ref": "T-4004"})["id"]
    time.sleep(2.0)  # the emulator is held out of paper meanwhile: the receipt goes stale
    emulator.clear("paper_out")
    wait_until(lambda: daemon.receipt(rid)["state"] == "held", what="the stale receipt held")

    held = f'#held-panel li[data-id="{rid}"]'
    wait(browser, lambda d: "T-4004" in text_of(d, held), "the stale receipt, live")
    assert "through “paper out” and was not printed late" in text_of(browser, held)
    assert not slips_with(emulator, "STALE-C")
    screenshots(browser, "cashier-held-stale")
    click(browser, f"{held} button.print-now")
    daemon.wait_printed(rid)
    slips = slips_with(emulator, "STALE-C")
    assert len(slips) == 1 and any("DELAYED" in e.get("text", "") for e in slips[0])
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, held), "no longer held")

"""The cashier's page in a real browser, against the real daemon and the emulated printer:
sign in once, watch a receipt arrive, look at its slip, reprint it (the duplicate warning
first), see why receipts wait, and release a held receipt on the cashier's word."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, is_marked, sample_document, slips_with, wait_until
from .browser import chromium, click, screenshots, sign_in, text_of, wait

pytestmark = pytest.mark.timeout(180)


def row(driver: webdriver.Chrome, receipt_id: int) -> str:
    return text_of(driver, f'#receipts li[data-id="{receipt_id}"]')


def test_a_receipt_appears_live_its_slip_opens_and_a_reprint_warns_then_prints_a_copy(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome,
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    first = daemon.submit({"document": sample_document("EARLIER"), "order_ref": "T-0999"})
    daemon.wait_printed(first["id"])
    sign_in(browser, daemon.url, TOKENS["cashier"])
    wait(browser, lambda d: "T-0999" in row(d, first["id"]), "today's receipt listed")

    # Live: a receipt submitted by the till shows up without a reload, and turns printed.
    receipt = daemon.submit({"document": sample_document("LIVE-1"), "order_ref": "T-1001"})
    wait(browser, lambda d: "T-1001" in row(d, receipt["id"]), "the new receipt, live")
    wait(browser, lambda d: "printed" in row(d, receipt["id"]), "the receipt turning printed")
    ids = [int(e.get_attribute("data-id")) for e in
           browser.find_elements(By.CSS_SELECTOR, "#receipts li.receipt")]
    assert ids == sorted(ids, reverse=True), "newest first"
    screenshots(browser, "cashier-receipts")

    # Search: by order ref, by what the receipt says, then back to today's.
    def listed(d: webdriver.Chrome) -> list[int]:
        return [int(e.get_attribute("data-id"))
                for e in d.find_elements(By.CSS_SELECTOR, "#receipts li.receipt")]

    browser.find_element(By.ID, "q-order").send_keys("T-0999")
    click(browser, "#search button[type=submit]")
    wait(browser, lambda d: listed(d) == [first["id"]], "the order's receipt alone")
    browser.find_element(By.ID, "q-order").clear()
    browser.find_element(By.ID, "q-text").send_keys("live-1")
    click(browser, "#search button[type=submit]")
    wait(browser, lambda d: listed(d) == [receipt["id"]], "the receipt with that text")
    click(browser, "#search button.second")
    wait(browser, lambda d: listed(d) == [receipt["id"], first["id"]], "today's again")

    # Its slip, as an image the daemon renders from the journal.
    click(browser, f'#receipts li[data-id="{receipt["id"]}"] button.slip')
    image = wait(browser, lambda d: d.find_element(By.ID, "slip-image"), "the slip image")
    wait(browser, lambda d: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image) > 100,
        "the slip image loaded")
    screenshots(browser, "cashier-slip")
    click(browser, "#dialog .acts button")

    # Reprint: it printed already, so the cashier is asked first, with the time it printed.
    click(browser, f'#receipts li[data-id="{receipt["id"]}"] button.reprint')
    warning = wait(browser, lambda d: d.find_element(By.ID, "duplicate-warning"), "warning")
    assert "Printed at" in warning.text and "COPY" in warning.text, warning.text
    screenshots(browser, "cashier-reprint-warning")
    click(browser, "#confirm-reprint")
    wait_until(lambda: [s for s in slips_with(emulator, "LIVE-1") if is_marked(s)],
               timeout=20, what="the COPY on the emulator's paper")
    copies = [s for s in slips_with(emulator, "LIVE-1") if is_marked(s)]
    assert len(copies) == 1 and any("COPY 1" in e.get("text", "") for e in copies[0])
    wait(browser, lambda d: "COPY ×1" in row(d, receipt["id"]), "the copy counted, live")
    # The copy was asked for by the signed-in token.
    prints = daemon.receipt(receipt["id"])["prints"]
    assert prints[-1]["requested_by"].startswith("cashier"), prints


def test_paper_out_shows_the_waiting_receipts_and_the_hint_in_the_browsers_language(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome,
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    sign_in(browser, daemon.url, TOKENS["cashier"])
    wait(browser, lambda d: d.find_element(By.ID, "all-ok"), "all printers ready")
    emulator.inject("paper_out")
    daemon.wait_state("paper_out")
    receipt = daemon.submit({"document": sample_document("WAITS"), "order_ref": "T-2002"})
    alert = '#printer-status [data-printer="front"]'
    wait(browser, lambda d: "paper out" in text_of(d, alert), "paper out, live")
    wait(browser, lambda d: f"#{receipt['id']} T-2002" in text_of(d, alert), "it waits")
    assert "Paper is out: load a new roll" in text_of(browser, alert)
    screenshots(browser, "cashier-paper-out")
    # The same page for a browser that prefers Chinese.
    zh = chromium("zh-CN")
    try:
        sign_in(zh, daemon.url, TOKENS["cashier"])
        wait(zh, lambda d: "缺纸" in text_of(d, alert), "paper out, in Chinese")
        assert "请装入新纸卷" in text_of(zh, alert)
        screenshots(zh, "cashier-paper-out-zh")
    finally:
        zh.quit()
    emulator.clear("paper_out")
    daemon.wait_printed(receipt["id"])
    wait(browser, lambda d: d.find_element(By.ID, "all-ok"), "ready again, live")


def test_a_held_receipt_prints_on_the_cashiers_word(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome, tmp_path: Path,
) -> None:
    emulator.speed_mm_s = 400.0
    emulator.start_tcp()
    config = tmp_path / "held.toml"
    config.write_text(f'[printers.front]\nurl = "{emulator.tcp_url}"\nmax_print_attempts = 1\n')
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--config", str(config)])
    emulator.arm("cover_open", after_mm=40)
    rid = daemon.submit({"document": sample_document("HELD-C", lines=20),
                         "order_ref": "T-3003"})["id"]
    wait_until(lambda: daemon.receipt(rid)["state"] == "held", timeout=30, what="held")
    emulator.disarm()
    emulator.clear("cover_open")
    daemon.wait_state("online", timeout=20)

    sign_in(browser, daemon.url, TOKENS["cashier"])
    held = f'#held-panel li[data-id="{rid}"]'
    wait(browser, lambda d: "T-3003" in text_of(d, held), "the held receipt, with its order")
    assert "cut short 1× (cover open)" in text_of(browser, held)
    screenshots(browser, "cashier-held")
    # "Leave it" only hides it here: it stays held in the journal, nothing prints.
    click(browser, f"{held} button.leave-it")
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, held), "left alone")
    assert daemon.receipt(rid)["state"] == "held"
    browser.refresh()  # left alone in this browser tab, across a reload
    wait(browser, lambda d: "T-3003" in row(d, rid), "the list after the reload")
    assert not browser.find_elements(By.CSS_SELECTOR, held)
    browser.execute_script("sessionStorage.clear()")  # a new shift, a new tab
    browser.refresh()
    click(browser, f"{held} button.print-now")
    daemon.wait_printed(rid, timeout=30)
    marked = [s for s in slips_with(emulator, "HELD-C") if is_marked(s)]
    assert len(marked) == 1, "printed again once, marked"
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, held), "no longer held")


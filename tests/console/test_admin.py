"""The manager's pages in a real browser, against the real daemon and the emulated printer:
printers with state, hint and counters, recovering a jam, the fault timeline, tokens added
(secret shown once) and revoked, the journal's stats and backup; and what a ``pos`` token
sees: its own page, nothing more."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document
from .browser import click, fetch, screenshots, sign_in, text_of, wait

pytestmark = pytest.mark.timeout(180)


def test_admin_recovers_a_jam_and_reads_the_fault_timeline(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome,
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    daemon.wait_printed(daemon.submit({"document": sample_document("BEFORE-JAM")})["id"])
    sign_in(browser, daemon.url, TOKENS["admin"])
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")] == [
        "Receipts", "Printers", "Tokens", "Journal"]
    click(browser, "#nav-printers")
    card = '#printers [data-printer="front"]'
    wait(browser, lambda d: "ready" in text_of(d, card), "the printer, ready")
    assert "Printed\n1" in text_of(browser, card)

    emulator.inject("jam")
    daemon.wait_state("mechanical_error")
    wait(browser, lambda d: "paper jam" in text_of(d, card), "the jam, live")
    assert "remove the jammed paper" in text_of(browser, card)
    assert "hardware" in text_of(browser, card)  # its category
    screenshots(browser, "admin-printers-jam")
    # A jam is never cleared behind the operator's back: the admin's Recover does it.
    click(browser, f"{card} button.recover")
    daemon.wait_state("online", timeout=20)
    wait(browser, lambda d: "ready" in text_of(d, card), "ready again")
    click(browser, f"{card} button.show-timeline")
    wait(browser, lambda d: "paper jam" in text_of(d, f"{card} table.timeline"), "timeline")
    screenshots(browser, "admin-printers")


def test_admin_adds_a_token_sees_its_secret_once_and_revokes_it(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome,
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    sign_in(browser, daemon.url, TOKENS["admin"])
    click(browser, "#nav-tokens")
    name = wait(browser, lambda d: d.find_element(By.ID, "token-name"), "the token form")
    name.send_keys("till-9")
    click(browser, "#add-token button[type=submit]")
    secret = wait(browser, lambda d: d.find_element(By.ID, "token-secret").text, "secret")
    assert secret.startswith("rct_")
    wait(browser, lambda d: "till-9" in text_of(d, "#tokens"), "listed")
    screenshots(browser, "admin-tokens")
    r = httpx.post(f"{daemon.url}/v1/printers/front/receipts", json={
        "document": sample_document("NEW-TILL")}, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 202 and r.json()["submitted_by"] == "till-9", r.text
    # Shown once: the list never carries it, nor does a reload.
    browser.refresh()
    wait(browser, lambda d: "till-9" in text_of(d, "#tokens"), "listed after a reload")
    assert secret not in browser.page_source

    click(browser, '#tokens li[data-token="till-9"] button.revoke')
    click(browser, "#confirm-revoke")
    wait(browser, lambda d: "till-9" not in text_of(d, "#tokens"), "revoked, gone from the list")
    r = httpx.get(f"{daemon.url}/v1/receipts/1", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401

    click(browser, "#nav-journal")
    wait(browser, lambda d: d.find_element(By.ID, "journal-stats").text, "journal stats")
    link = browser.find_element(By.ID, "backup")
    assert link.get_attribute("href").endswith("/v1/journal/backup")
    # The backup link works with the session cookie alone: a consistent SQLite file.
    head = browser.execute_async_script("""
        const done = arguments[0];
        fetch('/v1/journal/backup').then(r => r.arrayBuffer()).then(b =>
          done(String.fromCharCode(...new Uint8Array(b.slice(0, 15)))), e => done(String(e)));
    """)
    assert head == "SQLite format 3"
    screenshots(browser, "admin-journal")


def test_a_pos_token_sees_its_own_page_and_nothing_beyond(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
    browser: webdriver.Chrome,
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    receipt = daemon.submit({"document": sample_document("POS-OWN")})
    browser.get(daemon.url + "/")
    wait(browser, lambda d: d.find_element(By.ID, "token"), "the sign-in form").send_keys("nope")
    click(browser, "#sign-in-button")
    wait(browser, lambda d: "unknown token" in text_of(d, "#sign-in-error"), "refused")
    sign_in(browser, daemon.url, TOKENS["pos"], shot="sign-in")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")] == ["Till"]
    wait(browser, lambda d: d.find_element(By.ID, "pos-page"), "the till's own page")
    # Its own page says whether its printer prints now, live.
    wait(browser, lambda d: "ready" in text_of(d, '#till-printers [data-printer="front"]'),
         "the till's printer, ready")
    emulator.inject("paper_out")
    wait(browser, lambda d: "paper out" in text_of(d, '#till-printers [data-printer="front"]'),
         "the till's printer out of paper, live")
    emulator.clear("paper_out")
    screenshots(browser, "pos-till")
    for page in ("receipts", "printers", "tokens", "journal"):
        browser.get(f"{daemon.url}/#{page}")
        wait(browser, lambda d: d.find_element(By.ID, "not-for-role"), f"#{page} refused")
        assert not browser.find_elements(By.CSS_SELECTOR, "#receipts, #printers, #tokens")
    # The server decides, not the page: the session's role is the token's.
    for path in ("/v1/console/till", "/v1/console/receipts", "/v1/printers/front/events",
                 "/v1/tokens", "/v1/journal/stats", "/v1/receipts"):
        assert fetch(browser, "GET", path) == 403, path
    assert fetch(browser, "POST", f"/v1/receipts/{receipt['id']}/reprint") == 403
    assert fetch(browser, "POST", "/v1/printers/front/recover") == 403
    assert fetch(browser, "GET", f"/v1/receipts/{receipt['id']}") == 200  # its own right
    # Signing out ends the session on the server, not just on the page.
    click(browser, "#sign-out")
    wait(browser, lambda d: d.find_element(By.ID, "token"), "the sign-in form again")
    assert fetch(browser, "GET", f"/v1/receipts/{receipt['id']}") == 401

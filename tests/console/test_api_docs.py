"""The API documentation works on a box with no internet: Swagger UI from packaged files,
the bearer scheme in the OpenAPI document, and "Try it out" answering with a token."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from selenium.webdriver.common.by import By

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess
from .browser import chromium, click, screenshots, wait

pytestmark = pytest.mark.timeout(180)


def test_the_docs_page_loads_only_from_the_daemon_and_declares_the_bearer_scheme(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    page = httpx.get(f"{daemon.url}/v1/docs", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/v1/docs/swagger-ui-bundle.js" in page.text and "/v1/docs/swagger-ui.css" in page.text
    assert "cdn" not in page.text.lower() and "oauth2RedirectUrl" not in page.text
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        r = httpx.get(f"{daemon.url}/v1/docs/{name}", timeout=10)
        assert r.status_code == 200 and kind in r.headers["content-type"] and len(r.content) > 1e5
    assert httpx.get(f"{daemon.url}/v1/docs/index.html", timeout=10).status_code == 404

    spec = httpx.get(f"{daemon.url}/v1/openapi.json", timeout=10).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "a token: configured, or made with POST /v1/tokens"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            needs_token = op["x-required-role"] != "none"
            assert (op.get("security") == [{"bearer": []}]) == needs_token, (method, path)


def test_try_it_out_answers_with_the_token_put_in_authorize(
    emulator: Emulator, daemon_factory: Callable[..., DaemonProcess],
) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    browser = chromium()
    try:
        browser.get(f"{daemon.url}/v1/docs")
        click(browser, ".swagger-ui .btn.authorize")
        box = wait(browser, lambda d: d.find_element(
            By.CSS_SELECTOR, ".auth-container input"), "the Authorize dialog")
        box.send_keys(TOKENS["admin"])
        click(browser, ".auth-container .btn.modal-btn.auth.authorize")
        click(browser, ".btn-done")
        operation = "#operations-journal-journal_stats_v1_journal_stats_get"
        click(browser, f"{operation} .opblock-summary-control")
        click(browser, f"{operation} .try-out__btn")
        click(browser, f"{operation} .execute")
        answer = wait(browser, lambda d: d.find_element(
            By.CSS_SELECTOR, f"{operation} .live-responses-table").text, "the live answer")
        assert answer.split()[:4] == ["Code", "Details", "200", "Response"], answer
        assert "schema_version" in answer
        curl = browser.find_element(By.CSS_SELECTOR, f"{operation} .curl-command").text
        assert f"Authorization: Bearer {TOKENS['admin']}" in curl
        screenshots(browser, "api-docs")
        # Everything the page loaded came from the daemon itself.
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(u.startswith(daemon.url) for u in loaded), loaded
    finally:
        browser.quit()

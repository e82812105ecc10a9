"""The console's browser tests share one fixture: a headless Chromium per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver

from .browser import chromium


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()

"""A real headless Chromium for the console's tests (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium), and the steps every console test takes: sign in,
wait for what a person would see, save a screenshot at a till's and a phone's width."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where the test run leaves its screenshots (git-ignored): looked at by a person.
SHOTS = Path(__file__).resolve().parents[2] / "console-screenshots"
#: A till's screen and a phone's, in CSS pixels.
WIDTHS = {"till": (1024, 768), "phone": (390, 844)}


def chromium(lang: str = "en-US") -> webdriver.Chrome:
    """A fresh headless browser (its own profile: no cookie from another test)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (ci/apt-packages.txt)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--window-size=1024,768",
                f"--lang={lang}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def sign_in(driver: webdriver.Chrome, url: str, secret: str, shot: str | None = None) -> None:
    driver.get(url + "/")
    box = wait(driver, lambda d: d.find_element(By.ID, "token"), "the sign-in form")
    assert not driver.find_element(By.ID, "bar").is_displayed()
    if shot:
        screenshots(driver, shot)
    box.send_keys(secret)
    driver.find_element(By.ID, "sign-in-button").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#nav a"), "signed in")


def wait(driver: webdriver.Chrome, until: Callable[[Any], Any], what: str,
         timeout: float = 20.0) -> Any:
    """Until ``until(driver)`` is truthy (element lookups that fail count as not yet)."""
    def check(d: Any) -> Any:
        try:
            return until(d)
        except (StaleElementReferenceException, LookupError):
            return False
        except Exception as e:  # NoSuchElement and the like: not on the page yet
            if type(e).__module__.startswith("selenium"):
                return False
            raise
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        check, message=f"waiting for {what}")


def text_of(driver: webdriver.Chrome, css: str) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def click(driver: webdriver.Chrome, css: str, within: WebElement | None = None) -> None:
    root: Any = within or driver

    def clicked(d: Any) -> bool:  # again if a live update replaced the element meanwhile
        element = root.find_element(By.CSS_SELECTOR, css)
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
        return True

    wait(driver, clicked, f"a click on {css}")


def screenshots(driver: webdriver.Chrome, name: str) -> list[Path]:
    """The page as it is, at a till's width and a phone's (the whole page's height)."""
    SHOTS.mkdir(exist_ok=True)
    saved = []
    for label, (width, height) in WIDTHS.items():
        driver.set_window_size(width, height)
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height, int(full) + 100), 4000))
        path = SHOTS / f"{name}-{label}.png"
        driver.save_screenshot(str(path))
        saved.append(path)
    driver.set_window_size(*WIDTHS["till"])
    return saved


def fetch(driver: webdriver.Chrome, method: str, path: str, csrf: bool = True) -> int:
    """A request made by the page's own script, as the console makes them: the status."""
    script = """
        const [method, path, csrf, done] = arguments;
        fetch('/v1/session').then(r => r.json()).then(me => fetch(path, {method,
            headers: csrf ? {'X-CSRF-Token': me.csrf_token || ''} : {}}))
          .then(r => done(r.status), e => done(String(e)));
    """
    status: int = driver.execute_async_script(script, method, path, csrf)
    return status

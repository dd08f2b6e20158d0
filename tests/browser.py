"""A real headless Chromium for page tests (Debian's chromium + chromium-driver, driven by Selenium).

Missing browser or Selenium: the test is skipped, or fails when STUDY_REQUIRE_BROWSER=1 (CI installs
both). Screenshots go to $STUDY_SCREENSHOTS when set (kept for a human to look at), else to the
test's tmp dir.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _missing(what: str) -> None:
    msg = f"{what} not found; install Debian's chromium and chromium-driver and `pip install selenium`"
    if os.environ.get("STUDY_REQUIRE_BROWSER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _first(paths: tuple[str, ...], name: str) -> Optional[str]:
    return next((p for p in paths if Path(p).is_file()), None) or shutil.which(name)


@contextlib.contextmanager
def chromium(width: int = 1600, height: int = 1000) -> Iterator:
    """A fresh headless Chromium session (its own profile: no remembered UI state)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium")
    binary, driver = _first(CHROMIUM, "chromium"), _first(DRIVER, "chromedriver")
    if not binary or not driver:
        _missing("chromium / chromedriver")
    opts = Options()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield browser
    finally:
        browser.quit()


def page_text(browser) -> str:
    return browser.find_element("tag name", "body").text


def wait_for_text(browser, pred: Callable[[str], bool], timeout: float = 90.0) -> str:
    """The page's visible text once ``pred`` holds for it (the MLflow UI renders after its API calls)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page_text(browser)
        if pred(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"page {browser.current_url} never showed what was expected; it shows:\n{text[:3000]}")


def screenshot(browser, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("STUDY_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    browser.save_screenshot(str(path))
    return path

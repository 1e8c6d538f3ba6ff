"""Headless Chromium for page tests: Debian's chromium and chromedriver, driven by Selenium.

Skips a test when the browser is not installed, except where ``MUZO_REQUIRE_BROWSER=1``
(``.ci/run`` sets it after installing the packages): there a missing browser fails.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where tests keep their screenshots (override with MUZO_TEST_ARTIFACTS).
ARTIFACTS = Path(os.environ.get("MUZO_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "runs" / "test-artifacts"))


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def _missing() -> str:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return ""


@contextmanager
def chromium(width: int = 1200, height: int = 1000):
    """A Selenium driver of headless Chromium with a fresh profile and no background network."""
    missing = _missing()
    if missing:
        if os.environ.get("MUZO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test cannot run: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="muzo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

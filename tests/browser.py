"""Headless Chromium driven by Selenium, for tests of the web page.

:func:`chromium` yields a driver on Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` with a fresh
profile, and closes it after the test. Where either (or selenium) is missing the test is skipped with the
reason, unless ``MUZO_REQUIRE_BROWSER=1`` (CI sets it in ``.ci/run``): then it fails, so CI never skips it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_ENV = "MUZO_REQUIRE_BROWSER"
OPTIONS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--window-size=1000,1100")


def _missing(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the browser tests to run")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium(*extra_flags: str):
    """A headless Chromium WebDriver with a throw-away profile (``extra_flags``: more command-line switches)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install selenium, or the project's [test] extra)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            _missing(f"{path} is missing (Debian: apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="muzo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*OPTIONS, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def artefact_path(name: str) -> Path:
    """Where a test leaves a file for people to look at: ``$MUZO_TEST_ARTIFACTS`` or ``runs/test-artifacts/``
    under the checkout."""
    root = Path(os.environ.get("MUZO_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent / "runs" / "test-artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root / name

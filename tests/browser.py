"""A headless Chromium driven by selenium, for the pages Pnyx writes and serves.

Tests that need it skip, saying why, when selenium, Debian's `chromium` or its
`chromium-driver` is absent (.ci/run installs both as root).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

WINDOW = (1500, 900)


def _find(*names: str) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


def chrome() -> Iterator[Any]:
    """One headless browser (a module-scoped fixture's body): skipped cleanly without one."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    browser, driver = _find("chromium", "chromium-browser"), _find("chromedriver")
    if browser is None or driver is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=options)
    d.set_page_load_timeout(30)
    try:
        yield d
    finally:
        d.quit()


def console_errors(d: Any) -> list[str]:
    """The browser console's errors since the last call (the log is drained as it is read)."""
    return [e["message"] for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def press(d: Any, key: str) -> None:
    """A key pressed on the page, as a person presses it (through the browser's input pipeline)."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(d).send_keys(key).perform()

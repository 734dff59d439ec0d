"""A full-page screenshot of an HTML report in headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium), to look at the page as a reader would.

    python -m mrd_bench.report.screenshot runs/x/mrd_report/report.html docs/report_example.png
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mrd_bench.errors import ConfigError


def browser(width: int = 1400, height: int = 900):
    """A headless Chromium WebDriver; a clear error when Chromium or its driver is missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not binary or not driver:
        raise ConfigError("headless screenshots need Chromium and its driver; install Debian's "
                          "`chromium` and `chromium-driver` (apt-get install chromium chromium-driver).")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def screenshot(page: str | Path, out: str | Path, width: int = 1400) -> dict:
    """Write a PNG of the whole page; returns what the browser saw (height, images loaded, overflow)."""
    page, out = Path(page).resolve(), Path(out)
    with browser(width) as driver:
        driver.get(page.as_uri())
        seen = driver.execute_script(
            "return {height: document.body.scrollHeight, width: document.documentElement.scrollWidth,"
            " images: Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])};")
        driver.set_window_size(width, min(int(seen["height"]) + 200, 16000))
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    return seen


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m mrd_bench.report.screenshot PAGE.html OUT.png")
    print(screenshot(sys.argv[1], sys.argv[2]))

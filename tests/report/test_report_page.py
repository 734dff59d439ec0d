"""The HTML report as a reader sees it: headless Chromium (Debian's chromium + chromium-driver)."""
from __future__ import annotations

import shutil

import pytest

from tests.report.test_lmeval_report import test_report_gives_counts_intervals_directions_and_why_nan as build

pytestmark = pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                                reason="needs Debian's chromium and chromium-driver")


def test_page_loads_its_figures_and_fits_the_window(tmp_path):
    pytest.importorskip("selenium")
    from mrd_bench.report.screenshot import screenshot

    build(tmp_path)  # writes tmp_path/run/mrd_report
    page = tmp_path / "run" / "mrd_report" / "report.html"
    seen = screenshot(page, tmp_path / "page.png", width=1400)
    assert {src for src, _ in seen["images"]} == {"bins.png", "per_sample.png"}
    assert all(width > 0 for _, width in seen["images"])  # every figure loaded
    assert seen["width"] <= 1400  # nothing runs off the right edge
    assert (tmp_path / "page.png").stat().st_size > 10_000

"""The built board page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by Selenium, from a file:// URL with no network."""
from __future__ import annotations

import json
import shutil

import pytest

from mrd_bench.leaderboard.build import build

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
BROWSER = shutil.which("chromium") and shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not BROWSER, reason="headless Chromium is missing: install Debian's `chromium` and "
                                "`chromium-driver` (make test does where it can)")


@pytest.fixture()
def driver():
    pytest.importorskip("selenium", reason="selenium is missing: pip install -e '.[test]'")
    from mrd_bench.report.screenshot import browser

    with browser() as d:
        yield d


def test_board_page_sorts_shows_the_scores_and_never_runs_a_name(board_copy, driver):
    from selenium.webdriver.common.by import By

    hostile = board_copy / "submissions" / "hostile"
    shutil.copytree(board_copy / "submissions" / "npo_uniform", hostile)
    sub = json.loads((hostile / "submission.json").read_text())
    sub["method"]["name"] = HOSTILE
    sub["method"]["description"] = "</td></tr></table><script>window.__pwned = 3</script>"
    (hostile / "submission.json").write_text(json.dumps(sub))
    page = build(board_copy, progress=False)
    scores = json.loads((board_copy / "scores.json").read_text())
    driver.get(page.resolve().as_uri())

    # the hostile name is text on the page, and no script of it ran
    assert driver.execute_script("return window.__pwned === undefined")
    names = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#board tbody td.name")]
    assert any(HOSTILE in n for n in names)
    assert not driver.find_elements(By.CSS_SELECTOR, "#board tbody script, #board tbody img")

    # every number on the page equals the scores file
    headers = driver.find_elements(By.CSS_SELECTOR, "#board thead th")
    by_id = {e["id"]: e for e in scores["entries"]}
    rows = driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")
    assert len(rows) == len(scores["entries"]) == 4
    checked = 0
    for row in rows:
        entry = by_id[row.get_attribute("data-entry")]
        cells = row.find_elements(By.TAG_NAME, "td")
        assert int(cells[0].text) == entry["rank"]["reweighted"]
        for th, td in zip(headers, cells):
            metric, stat = th.get_attribute("data-metric"), th.get_attribute("data-stat")
            if not metric:
                continue
            expected = entry["scores"][metric][stat]
            assert float(td.get_attribute("data-value")) == expected["value"]
            low, high = (float(x) for x in td.find_element(By.CLASS_NAME, "ci").text.strip("[]").split(", "))
            assert low == pytest.approx(expected["ci"][0], rel=1e-3) and high == pytest.approx(expected["ci"][1], rel=1e-3)
            assert td.text.split()[0] == f"{expected['value']:.4g}"
            checked += 1
    assert checked == 4 * (4 * 5 + 1)  # 4 forget metrics × (reweighted, overall, 3 bins) + utility

    # clicking a header sorts by it; clicking again reverses
    column = next(i for i, th in enumerate(headers) if th.get_attribute("data-metric") == "tofu_retain_qa_prob/prob")
    for order in ("asc", "desc"):
        headers[column].click()
        assert headers[column].get_attribute("data-order") == order
        got = [row.get_attribute("data-entry") for row in driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")]
        want = sorted(by_id, key=lambda i: by_id[i]["scores"]["tofu_retain_qa_prob/prob"]["overall"]["value"],
                      reverse=order == "desc")
        assert got == want

    # the figures load from the folder, with no network
    loaded = driver.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
    assert {src for src, width in loaded if width > 0} == {"scatter.png", "bins.png"}

"""The study page in a real browser (Debian chromium via playwright): no console errors, no
request but the file itself, every figure and table visible, the summary number right."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from html_tables import num

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.mark.timeout(120)
def test_page_in_chromium(rendered, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    synth, page_path = rendered
    url = page_path.resolve().as_uri()
    console, requests, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            figures = page.locator("figure svg")
            assert figures.count() == 6
            for i in range(figures.count()):
                fig = figures.nth(i)
                fig.scroll_into_view_if_needed()
                assert fig.is_visible()
                box = fig.bounding_box()
                assert box and box["width"] > 300 and box["height"] > 100
            tables = page.locator("table")
            assert tables.count() >= 6 + 2 + 2
            for i in range(tables.count()):
                assert tables.nth(i).is_visible(), f"table {i} hidden"
            # the best row of the sgd summary table, final val accuracy column (5th)
            cell = page.locator("table.summary").first.locator("tr.best td").nth(4)
            shown = cell.inner_text()
            best = page.locator("table.summary").first.locator("tr.best td").nth(0).inner_text()
            lr = float(page.locator("table.summary").first.locator("tr.best td").nth(2)
                       .get_attribute("data-value"))
            page.evaluate("window.scrollTo(0, 0)")
            shot = tmp_path / "study.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not [m for m in console if m[0] == "error"], console
    assert all(r == url or r.startswith("data:") for r in requests), requests
    records = pd.read_parquet(synth.dir / "records.parquet")
    done = records[(records["status"] == "completed") & (records["split"] == "val")
                   & (records["metric"] == "accuracy") & (records["optimizer"] == "sgd")
                   & (records["schedule"] == best.replace("best", "").strip())
                   & (records["base_lr"] == lr)]
    final = done[done["epoch"] == done.groupby("run_key", observed=True)["epoch"].transform("max")]
    assert num(shown.split("±")[0]) == pytest.approx(final["value"].mean(), abs=5e-5)
    assert shot.stat().st_size > 10_000
    if os.environ.get("ANNEALBENCH_SCREENSHOT_DIR"):
        dest = Path(os.environ["ANNEALBENCH_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "report-study.png")

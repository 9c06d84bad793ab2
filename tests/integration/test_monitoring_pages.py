"""The monitoring pages as a person sees them: the index and the newest report in a real headless browser.

Debian's chromium driven by Playwright (no browser download; `make browser` installs chromium). The pages
are served from 127.0.0.1 as a user would open them after `relay monitor`. The screenshot is kept under
`reports/screenshots/` for CI to show.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.core.params import MonitorParams
from pipelines.data.generator import generate_batch
from pipelines.monitoring import drift, history, quality
from tests.helpers import ORDERS, REPO, chromium

pytestmark = pytest.mark.integration


def frame(batch: int, rows: int, scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    f = generate_batch(batch, rows, seed=11, scenarios=scenarios)
    return f[ORDERS.feature_columns()].assign(prediction=0.2 + 0.1 * (f["returned"] == 1))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def monitoring_pages(tmp_path: Path) -> Iterator[str]:
    """Two monitor runs (a clean week, then a drifted one) recorded as `relay monitor` records them,
    served over HTTP from 127.0.0.1."""
    reports = tmp_path / "reports" / "monitoring"
    url = f"sqlite:///{tmp_path}/history.db"
    reference = pd.concat([frame(b, 1500) for b in (1, 2, 3)], ignore_index=True)
    for stamp, window in (
        ("20261120T090000Z", frame(6, 3000)),
        ("20261121T090000Z", frame(5, 3000, ("new_brand", "promotion"))),
    ):
        inputs = drift.DriftInputs(
            window=window,
            reference=reference,
            contract=ORDERS,
            params=MonitorParams(drift_share=0.25, min_rows=200),
            reference_version="d7b6696293aa",
            model_version="2",
        )
        decision = drift.run(inputs, reports / stamp).model_copy(update={"created_at": stamp})
        if stamp.startswith("20261121"):
            # The drifted week's labels have landed, and the model ranks them barely better than chance.
            labelled = generate_batch(5, 3000, seed=11, scenarios=("new_brand", "promotion"))
            noise = np.random.default_rng(0).uniform(size=len(labelled))
            labelled["prediction"] = 0.7 * noise + 0.3 * labelled[ORDERS.target] * noise
            params = MonitorParams(max_quality_drop=0.05, min_rows=200)
            judged = quality.run(
                labelled, reports / stamp, ORDERS, params, metric="roc_auc", baseline=0.73, threshold=0.2
            )
            decision = decision.model_copy(update={"model_quality": judged})
        run_id = history.record(decision, url, reports).run_id
        if stamp.startswith("20261121"):
            history.note_retraining(run_id, "v3 trained on data 1f3c9a0b7e and promoted", url, reports)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(reports)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_index_shows_the_decision_and_leads_to_the_report(monitoring_pages: str) -> None:
    executable = chromium()
    from playwright.sync_api import expect, sync_playwright

    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--disable-gpu"], timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 720})
            page.goto(f"{monitoring_pages}/index.html")
            # The whole table fits the window: no sideways scrolling at 1,400 px.
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            headers = ["run (UTC)", "decision", "data quality", "model quality", "retraining", "files"]
            expect(page.locator("thead th")).to_have_text(headers)
            latest = page.locator("#latest")
            expect(latest).to_be_visible()
            expect(latest).to_contain_text("Drift detected in brand")
            rows = page.locator("tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_contain_text("20261121T090000Z")
            expect(rows.nth(0)).to_contain_text("brand: new value(s) sundew")
            expect(rows.nth(1)).to_contain_text("no drift")
            expect(page.locator("#latest-model_quality")).to_contain_text("the model got worse")
            expect(page.locator("#latest-retraining")).to_contain_text("Retraining: v3 trained on data 1f3c9a0b7e")
            page.screenshot(path=str(shots / "monitoring-index.png"), full_page=True)

            rows.nth(0).get_by_role("link", name="quality").click()
            page.wait_for_url("**/20261121T090000Z/quality.html")
            expect(page.get_by_text("RocAuc metric")).to_be_visible(timeout=30_000)
            page.screenshot(path=str(shots / "monitoring-quality.png"))
            page.go_back()

            page.get_by_role("link", name="open the report").click()
            page.wait_for_url("**/20261121T090000Z/report.html")
            # Evidently's report is a script-rendered page: wait until it has drawn its verdict and the table.
            expect(page.get_by_text("Dataset Drift is detected")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Drift is detected for 40.0% of columns")).to_be_visible()
            page.screenshot(path=str(shots / "monitoring-report.png"))
        finally:
            browser.close()

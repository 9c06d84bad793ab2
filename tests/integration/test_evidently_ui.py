"""Monitor runs in Evidently's own UI, as a person opens it with `relay monitor ui`.

The command runs for real on 127.0.0.1 and a free port over a temporary workspace. While it starts, three
monitor runs are judged (two clean weeks, then a drifted one whose labels show a quality drop); the first two
go into the workspace folder as the monitoring flow puts them there, the third through the setting that points
at a running Evidently UI service (RELAY_EVIDENTLY_WORKSPACE=http://..., refused until RELAY_EVIDENTLY_SECRET
is its secret). Evidently's HTTP API must then show
one project for the model, Relay's panels once each, and the runs' own values in them; and headless Chromium
(Debian's) draws the dashboard without fetching anything from outside 127.0.0.1. The screenshot is kept under
`reports/screenshots/`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from pipelines.core.handoffs import MonitorDecision
from pipelines.core.params import MonitorParams
from pipelines.core.settings import Settings
from pipelines.data.generator import generate_batch
from pipelines.flows.common import free_port
from pipelines.monitoring import dashboard, drift, quality
from tests.helpers import BIN, ORDERS, REPO, chromium

pytestmark = pytest.mark.integration
WEEKS = (("2026-11-20T09:00:00+00:00", 6, ()), ("2026-11-21T09:00:00+00:00", 7, ()))
DRIFTED = ("2026-11-22T09:00:00+00:00", 5, ("new_brand", "promotion"))
SECRET = "s3cret"


def frame(batch: int, rows: int, scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    f = generate_batch(batch, rows, seed=11, scenarios=scenarios)
    return f[ORDERS.feature_columns()].assign(prediction=0.2 + 0.1 * (f["returned"] == 1))


def judge(out: Path, stamp: str, batch: int, scenarios: tuple[str, ...], reference: pd.DataFrame) -> MonitorDecision:
    """One monitor run as the flow makes it: drift, then model quality on the drifted week's labels."""
    params = MonitorParams(drift_share=0.25, min_rows=200, max_quality_drop=0.05)
    inputs = drift.DriftInputs(
        window=frame(batch, 800, scenarios),
        reference=reference,
        contract=ORDERS,
        params=params,
        reference_version="d7b6696293",
        model_version="2",
    )
    decision = drift.run(inputs, out).model_copy(update={"created_at": stamp})
    if not scenarios:
        return decision
    labelled = generate_batch(batch, 800, seed=11, scenarios=scenarios)
    noise = np.random.default_rng(0).uniform(size=len(labelled))
    labelled["prediction"] = 0.7 * noise + 0.3 * labelled[ORDERS.target] * noise  # barely better than chance
    judged = quality.run(labelled, out, ORDERS, params, metric="roc_auc", baseline=0.73, threshold=0.2)
    return decision.model_copy(update={"model_quality": judged})


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`relay monitor ui` on a free port over an empty workspace folder, stopped by its PID."""
    workspace, port = tmp_path / "evidently", free_port()
    env = {**os.environ, "RELAY_ROOT": str(REPO), "RELAY_EVIDENTLY_WORKSPACE": str(workspace)}
    env["RELAY_EVIDENTLY_SECRET"] = SECRET  # the UI then takes writes through its API only with it
    log = (tmp_path / "ui.log").open("w")
    command = [str(BIN / "relay"), "monitor", "ui", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", workspace
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_until_up(url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/version", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"Evidently's UI did not answer at {url}: {log.read_text()[-2000:]}")


def _series(url: str, project: str, panel: dict[str, Any]) -> dict[str, Any]:
    """A panel's lines as the dashboard asks for them: one value per run, by the panel's own filters."""
    wanted = ("tags", "metadata", "metric", "metric_labels")
    body = {"series_filter": [{k: v[k] for k in wanted} for v in panel["values"]]}
    answer = httpx.post(f"{url}/api/v2/snapshots/{project}/data_series_batch", json=body, timeout=10)
    answer.raise_for_status()
    data = answer.json()
    lines = {panel["values"][s["filter_index"]]["legend"]: s["values"] for s in data["series"]}
    return {"when": [s["timestamp"] for s in data["sources"]], **lines}


def _values_are_the_runs(url: str, project: str, panel: dict[str, Any], runs: list[MonitorDecision]) -> None:
    deadline = time.monotonic() + 20  # the UI reads the folder's new snapshots as they appear
    while len(_series(url, project, panel["Dataset drift"])["when"]) < len(runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    share = _series(url, project, panel["Dataset drift"])
    assert share["when"] == [r.created_at.removesuffix("+00:00") for r in runs]
    assert share["drifted share"] == pytest.approx([r.drift_share for r in runs], abs=1e-4)
    assert share["threshold"] == [0.25] * 3 and runs[2].drift and not runs[0].drift
    prediction = _series(url, project, panel["Prediction drift"])["prediction"]
    assert prediction == pytest.approx([r.columns[drift.PREDICTION].score for r in runs], abs=1e-6)
    brand = _series(url, project, panel["Feature drift: categories"])["brand"]
    assert brand == pytest.approx([r.columns["brand"].score for r in runs], abs=1e-6)
    judged = runs[2].model_quality
    assert judged is not None and judged.dropped
    assert _series(url, project, panel["Model quality on new labels"]) == {
        "when": [runs[2].created_at.removesuffix("+00:00")],
        "roc_auc": [pytest.approx(judged.value, abs=1e-6)],
        "limit": [pytest.approx(judged.limit)],
    }
    rows = _series(url, project, panel["Rows judged"])
    assert rows["window rows"] == [800.0] * 3 and rows["labelled rows"] == [None, None, 800.0]


def _screenshot(url: str, project: str, titles: list[str]) -> None:
    """The dashboard in headless Chromium at 1,400 px, every panel drawn, nothing fetched from outside."""
    executable = chromium()
    from playwright.sync_api import Route, expect, sync_playwright

    shots = REPO / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []

    def loopback_only(route: Route) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:  # the UI's assets ship in Evidently's wheel; nothing may come from elsewhere
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--disable-gpu"], timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.route("**/*", loopback_only)
            page.goto(f"{url}/projects/{project}")
            for title in titles:
                expect(page.get_by_text(title, exact=True)).to_be_visible(timeout=30_000)
            expect(page.get_by_text("drifted share")).to_be_visible()
            expect(page.get_by_text("2026-11-22 09:00:00").first).to_be_visible()
            page.wait_for_timeout(800)  # the charts' entry animation
            page.screenshot(path=str(shots / "evidently-dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert outside == []


def test_runs_land_in_evidently_and_its_dashboard_shows_them(ui: tuple[str, Path], tmp_path: Path) -> None:
    url, workspace = ui
    reference = pd.concat([frame(b, 600) for b in (1, 2, 3)], ignore_index=True)
    # Judged while the UI starts (a separate process): what a person sees is what these decisions say.
    runs = [judge(tmp_path / f"run{i}", stamp, b, s, reference) for i, (stamp, b, s) in enumerate((*WEEKS, DRIFTED))]
    _wait_until_up(url, tmp_path / "ui.log")
    local = dashboard.Target.from_settings(Settings(root=REPO, evidently_workspace=str(workspace)))
    for run in runs[:2]:
        dashboard.publish(run, local)  # into the folder the UI watches, as the monitoring flow does
    remote = dashboard.Target.from_settings(Settings(root=REPO, evidently_workspace=url))
    with pytest.raises(dashboard.DashboardError, match="refused: Not enough permissions"):
        dashboard.publish(runs[2], remote)
    remote = dashboard.Target.from_settings(Settings(root=REPO, evidently_workspace=url, evidently_secret=SECRET))
    assert dashboard.publish(runs[2], remote).startswith(f"{url}/projects/")  # a setting away: the UI's API

    projects = httpx.get(f"{url}/api/v2/projects", timeout=10).json()
    assert [p["name"] for p in projects] == [local.project]
    project = projects[0]["id"]
    board = httpx.get(f"{url}/api/v2/dashboards/{project}", timeout=10).json()
    titles = [p["title"] for p in board["panels"]]
    assert [t["title"] for t in board["tabs"]] == [dashboard.TAB]
    # Provisioned four times (by the command, then with each run), drawn once.
    assert titles == [p.title for p in dashboard.panels(local, uuid.UUID(project))]
    _values_are_the_runs(url, project, {p["title"]: p for p in board["panels"]}, runs)
    _screenshot(url, project, titles)

"""The Evidently workspace: Relay's dashboard provisioned idempotently, one snapshot per run, clear failures.

Against Evidently's own local workspace in a temporary folder; the UI service and a real monitor run are
tests/integration/test_evidently_ui.py."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from pipelines.monitoring import dashboard, drift, quality
from tests.helpers import ORDERS, REPO, sample_decision


def target(location: str | Path) -> dashboard.Target:
    return dashboard.Target(location=str(location), project="fit-model", contract=ORDERS, quality_metric="roc_auc")


def test_provisioning_again_replaces_relays_panels_and_keeps_a_persons_own(tmp_path: Path) -> None:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import text_panel

    t = target(tmp_path / "ws")
    ws = dashboard.open_workspace(t)
    project = dashboard.project_id(ws, t.project)
    assert dashboard.provision(ws, project, dashboard.panels(t, project)) is True
    ws.get_project(project).dashboard.add_panel(text_panel("Our notes"), tab="Ours")  # a person's own tab
    # A panel an older Relay drew in its tab, under a title this one no longer uses.
    stale = dashboard.panels(t, project)[0].copy(update={"id": uuid.uuid4(), "title": "Drift (old)"})
    old = ws.get_dashboard(project)
    old.panels.append(stale)
    old.tabs[0].panels.append(stale.id)
    ws.save_dashboard(project, old)

    assert dashboard.provision(ws, project, dashboard.panels(t, project)) is True
    assert dashboard.provision(ws, project, dashboard.panels(t, project)) is False  # nothing left to change
    assert dashboard.project_id(ws, t.project) == project and len(ws.list_projects()) == 1
    now = ws.get_dashboard(project)
    assert [tab.title for tab in now.tabs] == [dashboard.TAB, "Ours"]
    titles = [p.title for p in now.panels]
    assert titles == [p.title for p in dashboard.panels(t, project)] + ["Our notes"]
    assert len(set(titles)) == len(titles) and "Drift (old)" not in titles
    quality_panel = next(p for p in now.panels if p.title.startswith("Model quality"))
    assert [v.metric for v in quality_panel.values] == [
        PanelMetric(metric="RocAuc").metric,
        PanelMetric(metric="MeanValue").metric,
    ]


def test_every_feature_has_its_line(tmp_path: Path) -> None:
    drawn = {
        v.metric_labels["column"]
        for p in dashboard.panels(target(tmp_path), uuid.uuid4())
        if p.title.startswith("Feature drift")
        for v in p.values
    }
    assert drawn == set(ORDERS.feature_columns())


def _snapshot(folder: Path, name: str, column: str) -> None:
    """A small real Evidently snapshot where a run keeps its report's."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MaxValue

    frame = pd.DataFrame({column: [1.0, 2.0, 3.0]})
    data = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=[column]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(Report([MaxValue(column=column)]).run(data, None).dumps())


def test_a_run_is_one_snapshot_with_both_reports_and_the_decisions_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "20261121T090000Z"
    _snapshot(folder, drift.SNAPSHOT, "drift_score")
    _snapshot(folder, quality.SNAPSHOT, "quality_score")
    judged = {"status": "judged", "ok": False, "message": "worse", "labelled_rows": 800, "limit": 0.68}
    decision = sample_decision(
        folder / "report.html",
        drift=True,
        drifted_features=["brand"],
        created_at="2026-11-21T10:00:00+01:00",
        model_quality=judged | {"report": str(folder / "quality.html"), "value": 0.61, "metric": "roc_auc"},
    )
    model = dashboard.run_snapshot(decision).to_snapshot_model()
    columns = {str(r.metric_value_location.metric.params.get("column")) for r in model.metric_results.values()}
    facts = {dashboard.FACT.format(k) for k in ("drift_share_threshold", "rows_judged", "labelled_rows")}
    assert columns == {"drift_score", "quality_score", dashboard.FACT.format("quality_limit")} | facts
    assert len(model.top_level_metrics) == 2  # the two reports' widgets; the facts are only values
    assert model.name == "20261121T090000Z: drift in brand"
    assert str(model.timestamp) == "2026-11-21 09:00:00"  # UTC
    assert model.tags == ["model v2", "drift", "quality dropped"]


def test_what_cannot_work_is_said_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(dashboard.DashboardError, match=r"report\.snapshot\.json is missing"):
        dashboard.run_snapshot(sample_decision(tmp_path / "report.html"))
    with pytest.raises(dashboard.DashboardError, match="give a folder or the http"):
        dashboard.open_workspace(target("s3://bucket/evidently"))
    from evidently.errors import EvidentlyError

    # What an Evidently UI started with --secret answers a client without it (seen with `evidently ui` 0.7.23).
    refused = "refused: Not enough permissions; RELAY_EVIDENTLY_SECRET must be its --secret"
    with pytest.raises(dashboard.DashboardError, match=refused), dashboard._refusals(target("http://127.0.0.1:8001")):
        raise EvidentlyError("Not enough permissions")
    down = f"http://127.0.0.1:{free_port()}"
    env = {"RELAY_ROOT": str(REPO), "RELAY_EVIDENTLY_WORKSPACE": down}
    result = CliRunner().invoke(app, ["monitor", "ui"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: no Evidently UI answers at {down} (ConnectionError)")
    assert len(result.output.strip().splitlines()) <= 2  # one line (the console may wrap it)


def test_the_workspace_is_set_once_and_overridable(tmp_path: Path) -> None:
    assert Settings(root=tmp_path).evidently_location == str(tmp_path / "local" / "evidently")
    assert Settings(root=tmp_path, evidently_workspace="ev").evidently_location == str(tmp_path / "ev")
    remote = "http://127.0.0.1:8001"
    assert Settings(root=tmp_path, evidently_workspace=remote + "/").evidently_location == remote

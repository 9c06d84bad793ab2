"""The monitor on inputs it cannot judge: a clear message and a non-zero exit, never a traceback.

One case goes through `relay monitor` in a subprocess (exit code, message, no traceback); the others call
the monitoring flow in this process, which is what the command runs, and check the message.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipelines.core.prediction_log import PredictionLogWriter, now_utc
from pipelines.core.settings import Settings
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration


@pytest.fixture
def workspace(trained_workspace: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    return ws


def monitor(ws: Path) -> subprocess.CompletedProcess[str]:
    env = Settings(root=ws).child_env() | {"RELAY_ROOT": str(ws), "PREFECT_HOME": str(ws / "local" / "prefect")}
    env.pop("RELAY_DEBUG", None)
    relay = Path(sys.executable).parent / "relay"
    return subprocess.run(
        [str(relay), "monitor"], cwd=ws, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def log_rows(ws: Path, n: int, version: str = "1") -> None:
    writer = PredictionLogWriter(Settings(root=ws).prediction_log, ORDERS)
    meta = {"request_id": "r", "ts": now_utc(), "model_version": version, "latency_ms": 1.0}
    writer.log_predictions([ORDERS.example_record()] * n, [0.3] * n, [False] * n, **meta)
    assert writer.close() == 0


def assert_refused(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_no_prediction_log_yet(workspace: Path) -> None:
    assert_refused(monitor(workspace), "no prediction log", "serve some traffic first")


def judge(ws: Path) -> None:
    from pipelines.flows.monitoring import monitoring_flow

    monitoring_flow(settings=Settings(root=ws))


def test_window_too_small(workspace: Path) -> None:
    log_rows(workspace, 50)
    with pytest.raises(ValueError, match=r"has 50 rows; the monitor needs at least 200 \(monitor.min_rows\)"):
        judge(workspace)


def test_window_of_another_model_does_not_count(workspace: Path) -> None:
    log_rows(workspace, 500, version="7")  # traffic of a model that is not the champion
    with pytest.raises(ValueError, match="has 0 rows"):
        judge(workspace)


def test_log_missing_columns(workspace: Path) -> None:
    url = Settings(root=workspace).prediction_log
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE predictions (id INTEGER PRIMARY KEY, ts TEXT, price REAL)"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="does not match the data contract: missing"):
        judge(workspace)


def test_no_champion_no_reference(workspace: Path) -> None:
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow

    log_rows(workspace, 500)
    configure_mlflow(Settings(root=workspace).tracking_uri)
    MlflowClient().delete_registered_model_alias("relay-returns", "champion")
    with pytest.raises(FileNotFoundError, match=r"has no champion.*run the training flow first"):
        judge(workspace)


def test_a_damaged_labelled_batch_does_not_lose_the_drift_decision(workspace: Path) -> None:
    from pipelines.flows.monitoring import monitoring_flow
    from pipelines.monitoring import history

    log_rows(workspace, 500)
    (workspace / "data" / "raw" / "batch-0009.parquet").write_bytes(b"not parquet")
    s = Settings(root=workspace)
    decision = monitoring_flow(retrain=False, settings=s)
    quality = decision.model_quality
    assert quality is not None and quality.status == "error" and quality.ok is None
    assert "batch-0009.parquet cannot be read as Parquet" in quality.message
    newest = history.read(s.monitoring_store).iloc[0]
    assert newest["id"] == decision.history_id and "cannot be read as Parquet" in newest["model_quality"]
    # part:evidently-ui:begin
    # The run is in the model's Evidently project too (local/evidently/ by default).
    from pipelines.monitoring import dashboard

    evidently = dashboard.open_workspace(dashboard.Target.from_settings(s))
    project = dashboard.project_id(evidently, s.model_name)
    runs = [evidently.get_run(project, r).metadata["relay_run"] for r in evidently.list_runs(project)]
    assert Path(decision.report).parent.name in runs
    # part:evidently-ui:end

"""`relay clean` removes what runs made, found through settings; DVC's cache and configured stores stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.clean import clean_targets
from pipelines.cli.main import app
from pipelines.core.settings import Settings

MADE = [
    "data/raw/batch-0001.parquet",
    "data/quarantine/batch-0001.parquet",
    "data/validated/batch-0001.parquet",
    "data/dataset/train/batch-0001.parquet",
    "models/model.joblib",
    "metrics/holdout.json",
    "plots/roc.png",
    "reports/monitoring/index.html",
    "local/logs/api.log",
    "local/mlflow/mlflow.db",
    "local/predictions/relay-returns.db",
    "local/monitoring/relay-returns.db",
    "dvc.lock",
]
KEPT = [".dvc/cache/files/md5/ab/cdef", "local/dvc-remote/files/md5/ab/cdef", "data/.gitignore", "params.yaml"]


@pytest.fixture
def ws(workspace: Path) -> Path:
    for rel in MADE + KEPT:
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("x")
    return workspace


def test_clean_removes_what_runs_made_and_keeps_the_cache_and_the_code(ws: Path) -> None:
    result = CliRunner().invoke(app, ["clean", "--yes"])
    assert result.exit_code == 0, result.output
    assert [rel for rel in MADE if (ws / rel).exists()] == []
    assert [rel for rel in KEPT if not (ws / rel).exists()] == []
    assert (ws / "data").is_dir() and "DVC's cache keeps" in result.output
    again = CliRunner().invoke(app, ["clean", "--yes"])
    assert again.exit_code == 0 and "nothing to clean" in again.output


def test_clean_asks_first_and_a_no_removes_nothing(ws: Path) -> None:
    result = CliRunner().invoke(app, ["clean"], input="n\n")
    assert result.exit_code == 1
    assert [rel for rel in MADE if not (ws / rel).exists()] == []


def test_stores_the_settings_point_elsewhere_are_not_cleaned(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", "postgresql://mlflow@127.0.0.1:5432/mlflow")
    monkeypatch.setenv("RELAY_PREDICTION_LOG_URL", "postgresql://relay@127.0.0.1:5432/relay")
    monkeypatch.setenv("RELAY_MONITORING_URL", "postgresql://relay@127.0.0.1:5432/relay")
    targets = {p.relative_to(ws).as_posix() for p in clean_targets(Settings())}
    assert not targets & {"local/mlflow", "local/predictions", "local/monitoring"}
    assert {"data/raw", "models", "dvc.lock"} <= targets

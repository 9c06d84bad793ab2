from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.params import ParamsError, load_params
from pipelines.core.settings import Settings
from tests.conftest import REPO


def test_repository_params_load() -> None:
    p = load_params(REPO / "params.yaml")
    assert 0 <= p.validate_.max_invalid_share < 1 and p.promote.metric in ("roc_auc", "pr_auc")


def test_unknown_key_is_named(tmp_path: Path) -> None:
    f = tmp_path / "params.yaml"
    f.write_text("train:\n  learning_rat: 0.1\n")
    with pytest.raises(ParamsError, match=r"train\.learning_rat: Extra inputs"):
        load_params(f)


def test_unknown_section_is_named(tmp_path: Path) -> None:
    f = tmp_path / "params.yaml"
    f.write_text("trian: {}\n")
    with pytest.raises(ParamsError, match="trian"):
        load_params(f)


def test_invalid_value_is_named(tmp_path: Path) -> None:
    f = tmp_path / "params.yaml"
    f.write_text("version:\n  holdout_share: 1.5\n")
    with pytest.raises(ParamsError, match=r"version\.holdout_share"):
        load_params(f)


def test_file_source_needs_a_path(tmp_path: Path) -> None:
    f = tmp_path / "params.yaml"
    f.write_text("ingest:\n  source: file\n")
    with pytest.raises(ParamsError, match=r"ingest\.path is empty"):
        load_params(f)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "p.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "p.yaml")


def test_settings_default_to_embedded_stores_under_root(tmp_path: Path) -> None:
    s = Settings(root=tmp_path)
    assert s.tracking_uri == f"sqlite:///{tmp_path}/local/mlflow/mlflow.db"
    assert s.artifact_location.startswith("file://") and str(tmp_path) in s.artifact_location
    assert s.prediction_log.startswith("sqlite:///") and s.uses_embedded_mlflow


def test_settings_come_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_ROOT", str(tmp_path))
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("RELAY_PREDICTION_LOG_URL", "postgresql+psycopg://db/relay")
    s = Settings()
    assert s.root == tmp_path.resolve()
    assert s.tracking_uri == "http://mlflow:5000" and not s.uses_embedded_mlflow
    assert s.prediction_log == "postgresql+psycopg://db/relay"
    assert s.child_env()["RELAY_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("monitor:\n  min_rows: 900\n  window_rows: 500\n", "monitor.min_rows"),
        ("demo:\n  train_batches: [1, 2]\n  drift_batch: 2\n", "demo.drift_batch"),  # part:teaching
        ("demo:\n  drift_batch: 0\n", "demo.drift_batch"),  # part:teaching
        ("sweep:\n  space:\n    seed: [1, 2]\n", "sweep.space.seed"),  # part:experiments
        ("sweep:\n  space:\n    learning_rate: [0.1, 2.0]\n", "sweep.space.learning_rate: 2.0"),  # part:experiments
        ("sweep:\n  space:\n    max_leaf_nodes: [15.5]\n", "sweep.space.max_leaf_nodes: 15.5"),  # part:experiments
        ("sweep:\n  space:\n    max_iter: []\n", "sweep.space.max_iter needs values"),  # part:experiments
        ("sweep:\n  space:\n    C: [0.1]\n", "not a hyperparameter of hist_gradient_boosting"),  # part:experiments
        ("sweep:\n  space: {}\n", "sweep.space is empty"),  # part:experiments
        ("sweep:\n  runner: spark\n", "sweep.runner"),  # part:experiments
    ],
)
def test_inconsistent_values_are_named(tmp_path: Path, yaml_text: str, named: str) -> None:
    f = tmp_path / "params.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ParamsError, match=named.replace(".", r"\.")):
        load_params(f)


def test_a_tracking_server_keeps_its_own_artifact_store(tmp_path: Path) -> None:
    served = Settings(root=tmp_path, mlflow_tracking_uri="http://mlflow:5000")
    assert served.artifact_location == ""  # the server's --artifacts-destination, not a path on this machine
    pinned = Settings(root=tmp_path, mlflow_tracking_uri="http://mlflow:5000", mlflow_artifact_location="s3://b/m")
    assert pinned.artifact_location == "s3://b/m"
    database = Settings(root=tmp_path, mlflow_tracking_uri="postgresql://db/mlflow")
    assert database.artifact_location.startswith("file://")

"""`relay mlflow-ui`: MLflow's UI on the store the settings name, so the Makefile does not repeat the path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import mlflow_ui
from pipelines.cli.main import app
from pipelines.core.settings import Settings


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_embedded_store_and_its_artifact_root_come_from_settings(tmp_path: Path) -> None:
    s = Settings(root=tmp_path)
    argv = mlflow_ui.ui_argv(s, "127.0.0.1", 5000)
    assert argv[argv.index("ui") - 1].endswith("mlflow") or argv[1:3] == ["-m", "mlflow"]
    assert _option(argv, "--backend-store-uri") == s.tracking_uri == f"sqlite:///{tmp_path / 'local/mlflow/mlflow.db'}"
    assert _option(argv, "--default-artifact-root") == s.artifact_location
    assert (_option(argv, "--host"), _option(argv, "--port")) == ("127.0.0.1", "5000")


def test_a_configured_database_store_is_the_one_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", "postgresql://mlflow@127.0.0.1:5432/mlflow")
    monkeypatch.setenv("RELAY_MLFLOW_ARTIFACT_LOCATION", "s3://bucket/mlflow")
    argv = mlflow_ui.ui_argv(Settings(root=tmp_path), "0.0.0.0", 5050)
    assert _option(argv, "--backend-store-uri") == "postgresql://mlflow@127.0.0.1:5432/mlflow"
    assert _option(argv, "--default-artifact-root") == "s3://bucket/mlflow"


def test_a_tracking_server_is_named_instead_of_served_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    started: list[list[str]] = []
    monkeypatch.setattr(mlflow_ui.os, "execv", lambda path, argv: started.append(argv))
    result = CliRunner().invoke(app, ["mlflow-ui"])
    assert result.exit_code == 1 and not started
    assert "MLflow server at http://mlflow.internal:5000" in " ".join(result.output.split())


def test_the_command_hands_the_process_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_ROOT", str(tmp_path))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    started: list[list[str]] = []
    monkeypatch.setattr(mlflow_ui.os, "execv", lambda path, argv: started.append(argv))
    # No store yet: `mlflow ui` would create an empty one, so the command refuses and creates nothing.
    refused = CliRunner().invoke(app, ["mlflow-ui"])
    assert refused.exit_code == 1 and not started and "no registry at" in refused.output
    assert not (tmp_path / "local").exists()
    store = tmp_path / "local" / "mlflow" / "mlflow.db"
    store.parent.mkdir(parents=True)
    store.touch()
    result = CliRunner().invoke(app, ["mlflow-ui", "--port", "5077"])
    assert result.exit_code == 0, result.output
    assert _option(started[0], "--port") == "5077" and str(tmp_path) in _option(started[0], "--backend-store-uri")
    assert CliRunner().invoke(app, ["mlflow-ui", "--port", "70000"]).exit_code == 2

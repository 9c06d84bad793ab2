"""The ML engineer's registry commands against a real MLflow registry: rollback and status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import ORDERS

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def registry(trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the trained workspace (its own MLflow store), so moving aliases here affects no other test."""
    ws = tmp_path / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    monkeypatch.setenv("RELAY_ROOT", str(ws))
    monkeypatch.chdir(ws)
    return ws


def _register(root: Path, model, *, min_improvement: float = 0.0) -> dict[str, object]:  # type: ignore[no-untyped-def]
    import mlflow

    from pipelines.core.params import EvaluateParams, PromoteParams
    from pipelines.core.settings import Settings
    from pipelines.release import register

    s = Settings(root=root)
    exp = mlflow.get_experiment_by_name(s.experiment_name)
    assert exp is not None
    with mlflow.start_run(experiment_id=exp.experiment_id, tags={"relay.threshold": "0.3"}) as run:
        logged = mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
    return register.run(
        register.RegisterInputs(
            registry=register.Registry(tracking_uri=s.tracking_uri, model_name=s.model_name),
            candidate=register.Candidate(run_id=run.info.run_id, model_uri=logged.model_uri),
            holdout=register.Holdout(dataset_dir=s.dataset_dir, version="test", contract=ORDERS),
            gate=PromoteParams(floors={}, ceilings={}, min_improvement=min_improvement),
            costs=EvaluateParams(),
            promoted_by="test gate",
        )
    )


def test_rollback_moves_champion_back_and_records_why(registry: Path) -> None:
    import mlflow
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from pipelines.cli.main import app
    from pipelines.core.dataset import read_split
    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.settings import Settings

    s = Settings(root=registry)
    configure_mlflow(s.tracking_uri)
    client = mlflow.MlflowClient()
    # The same model again, registered from a new run: it ties the champion, which passes with no margin.
    same = mlflow.sklearn.load_model("models:/relay-returns@champion")
    second = _register(registry, same)
    assert second.promoted and second.version == "2"
    train = read_split(s.dataset_dir, "train")
    weak = Pipeline([("m", DummyClassifier(strategy="prior"))]).fit(
        train[ORDERS.feature_columns()], train[ORDERS.target]
    )
    third = _register(registry, weak)
    assert not third.promoted

    refused = runner.invoke(app, ["model", "rollback", "--to", str(third.version)])
    assert refused.exit_code == 1 and "never passed the promotion gate" in refused.output
    missing = runner.invoke(app, ["model", "rollback", "--to", "99"])
    assert missing.exit_code == 1 and "no version 99" in missing.output
    assert str(client.get_model_version_by_alias("relay-returns", "champion").version) == "2"

    done = runner.invoke(app, ["model", "rollback", "--reason", "latency regression"])
    assert done.exit_code == 0, done.output
    assert "from version 2 to version 1" in " ".join(done.output.split())
    assert str(client.get_model_version_by_alias("relay-returns", "champion").version) == "1"
    rolled = client.get_model_version("relay-returns", "2").tags
    assert rolled["relay.rolled_back_reason"] == "latency regression"
    assert "ml-engineer" in rolled["relay.rolled_back_by"]
    assert "rollback from version 2" in client.get_model_version("relay-returns", "1").tags["relay.promoted_by"]
    assert "previous-champion" not in (client.get_registered_model("relay-returns").aliases or {})

    again = runner.invoke(app, ["model", "rollback"])
    assert again.exit_code == 1 and "no earlier champion" in again.output

    status = runner.invoke(app, ["model", "status"], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    text = " ".join(status.output.split())
    assert "rolled back" in text and "latency regression" in text and "challenger" in text

    # A rolled-back version that passes the gate again is a normal champion again.
    fourth = _register(registry, same)
    assert fourth.promoted

"""The training flow with real DVC, MLflow and Prefect (temporary local server) in a scratch workspace."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.core.artifacts import MODEL_INFO, REFERENCE_DIR
from pipelines.core.dataset import read_split
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration


def _client(root: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.settings import Settings

    configure_mlflow(Settings(root=root).tracking_uri)
    return MlflowClient()


def test_dvc_lock_records_every_stage(trained_workspace: Path) -> None:
    lock = yaml.safe_load((trained_workspace / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"validate", "version", "train", "evaluate"}
    assert any((trained_workspace / "local" / "dvc-remote").rglob("*")), "dvc push left the remote empty"


def test_run_carries_lineage_and_owner(trained_workspace: Path) -> None:
    from pipelines.data.version import data_version

    client = _client(trained_workspace)
    mv = client.get_model_version_by_alias("relay-returns", "champion")
    run = client.get_run(mv.run_id)
    tags = run.data.tags
    assert tags["relay.owner"] == "data-scientist" and tags["relay.stage"] == "track"
    assert tags["relay.data_version"] == data_version(trained_workspace)
    assert len(tags["relay.git_commit"].split("-")[0]) == 40
    assert tags["relay.trigger"] == "manual"
    assert {"roc_auc", "pr_auc", "f1", "brier", "prevented_per_1000"} <= set(run.data.metrics)
    assert run.data.params["train.model.learning_rate"] == "0.08"
    assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.name == "orders-train"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics", "plots", REFERENCE_DIR, MODEL_INFO} <= artifacts
    assert mv.tags["relay.owner"] == "ml-engineer" and mv.tags["relay.gate"] == "passed"
    assert "relay.promoted_by" in mv.tags


def test_logged_model_has_signature_and_loads_without_relay_code(trained_workspace: Path) -> None:
    import mlflow

    _client(trained_workspace)
    info = mlflow.models.get_model_info("models:/relay-returns@champion")
    assert info.signature is not None and info.saved_input_example_info is not None
    model = mlflow.pyfunc.load_model("models:/relay-returns@champion")
    import pandas as pd

    out = model.predict(pd.DataFrame([ORDERS.example_record()]))
    assert out.shape == (1, 2)


def test_rerun_is_cached_and_idempotent(trained_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.core.settings import Settings
    from pipelines.flows.training import training_flow

    monkeypatch.setenv("RELAY_ROOT", str(trained_workspace))
    monkeypatch.chdir(trained_workspace)
    client = _client(trained_workspace)
    before = len(client.search_model_versions("name = 'relay-returns'"))
    model_file = trained_workspace / "models" / "model.joblib"
    stamp, lock = model_file.stat().st_mtime_ns, (trained_workspace / "dvc.lock").read_text()
    decision = training_flow(trigger="manual", settings=Settings(root=trained_workspace))
    assert decision.version == "1" and decision.reason == "already champion"
    assert len(client.search_model_versions("name = 'relay-returns'")) == before
    assert model_file.stat().st_mtime_ns == stamp, "DVC re-ran train although nothing changed"
    assert (trained_workspace / "dvc.lock").read_text() == lock


def test_worse_challenger_stays_challenger(trained_workspace: Path, tmp_path: Path) -> None:
    """A deliberately weak model goes through the real gate and must not take the champion alias."""
    import mlflow
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from pipelines.core.params import EvaluateParams, PromoteParams
    from pipelines.core.settings import Settings
    from pipelines.release import register

    # A copy with its own MLflow store: the shared workspace keeps exactly the versions its flow registered,
    # whichever order the tests that read it run in.
    ws = tmp_path / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    s = Settings(root=ws)
    client = _client(ws)
    champion_before = client.get_model_version_by_alias("relay-returns", "champion").version
    train = read_split(s.dataset_dir, "train")
    weak = Pipeline([("m", DummyClassifier(strategy="prior"))]).fit(
        train[ORDERS.feature_columns()], train[ORDERS.target]
    )
    exp = mlflow.get_experiment_by_name(s.experiment_name)
    with mlflow.start_run(experiment_id=exp.experiment_id, tags={"relay.threshold": "0.5"}) as run:
        logged = mlflow.sklearn.log_model(
            weak, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
    decision = register.run(
        register.RegisterInputs(
            registry=register.Registry(tracking_uri=s.tracking_uri, model_name="relay-returns"),
            candidate=register.Candidate(run_id=run.info.run_id, model_uri=logged.model_uri),
            holdout=register.Holdout(dataset_dir=s.dataset_dir, version="test", contract=ORDERS),
            gate=PromoteParams(floors={}, ceilings={}),
            costs=EvaluateParams(),
            promoted_by="test",
        )
    )
    assert not decision.promoted and "does not beat champion" in decision.reason
    assert str(client.get_model_version_by_alias("relay-returns", "champion").version) == str(champion_before)
    assert str(client.get_model_version_by_alias("relay-returns", "challenger").version) == decision.version
    mv = client.get_model_version("relay-returns", decision.version)
    assert mv.tags["relay.gate"] == "failed" and "does not beat" in mv.tags["relay.gate_reason"]


def test_unreachable_tracking_server_is_a_clear_error() -> None:
    from pipelines.core.lineage import configure_mlflow

    with pytest.raises(ConnectionError, match="unreachable"):
        configure_mlflow("http://127.0.0.1:9")


def test_failed_stage_leaves_stored_outputs_in_place(trained_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that breaks the contract fails the validate stage and leaves the validated data and dvc.lock as
    they were (the stage replaces its folder only when everything passes)."""
    from dvc.exceptions import DvcException

    from pipelines.data.generator import generate_batch
    from pipelines.flows.training import run_dvc_stage

    monkeypatch.chdir(trained_workspace)
    # DVC runs `relay stage validate` through the shell, as the flow does after `prepare_environment`. Without
    # this the test passed only after another test in the same worker had put the venv's bin on PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    validated = trained_workspace / "data" / "validated"

    def contents() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(validated.iterdir())}

    before, lock = contents(), (trained_workspace / "dvc.lock").read_text()
    bad = generate_batch(9, 300)
    bad.loc[0, "channel"] = "fax"
    smuggled = trained_workspace / "data" / "raw" / "batch-0009.parquet"  # bypasses ingest's gate on purpose
    bad.to_parquet(smuggled)
    try:
        with pytest.raises(DvcException):
            run_dvc_stage.fn(str(trained_workspace), "validate")
        assert contents() == before
        assert (trained_workspace / "dvc.lock").read_text() == lock
        assert "channel" in (trained_workspace / "metrics" / "validation.json").read_text()
    finally:
        smuggled.unlink()

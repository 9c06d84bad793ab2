"""Each model kind of `train.model` trains, gets a verdict from the gate and is served, with one edit of
params.yaml. The trained workspace holds the default kind's champion; each other kind retrains on the same
data version and replaces it without comparison (`--no-compare`), as a switch of kinds would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from pipelines.core.settings import Settings
from services.api.main import create_app
from tests.helpers import copy_workspace

pytestmark = pytest.mark.integration
RECORD = {
    "customer_height_cm": 171.0,
    "customer_weight_kg": None,
    "usual_size": "M",
    "category": "dresses",
    "brand": "a-brand-never-seen",
    "ordered_size": "S",
    "price": 49.9,
    "discount": 0.1,
    "channel": "web",
}


@pytest.mark.parametrize(
    "model",
    [{"kind": "logistic_regression", "C": 0.5}, {"kind": "random_forest", "n_estimators": 50, "max_depth": 8}],
    ids=lambda m: m["kind"],
)
def test_a_model_kind_is_one_edit_of_params_yaml(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: dict[str, object]
) -> None:
    root = copy_workspace(trained_workspace, tmp_path / "ws")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["model"] = model
    params["promote"]["floors"] = {"roc_auc": 0.5}  # the small training data is a smoke test, not a benchmark
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setenv("RELAY_ROOT", str(root))
    monkeypatch.setenv("PREFECT_HOME", str(root / "local" / "prefect"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(root)
    from pipelines.flows.training import training_flow

    s = Settings(root=root, prediction_log_url=f"sqlite:///{tmp_path}/log.db")
    outcome = training_flow(trigger="manual", settings=s, compare=False)
    assert outcome.promoted, outcome.reason
    assert outcome.reason.startswith("not compared with champion 1 (--no-compare)")
    with TestClient(create_app(s)) as client:
        info = client.get("/v1/model").json()
        assert info["version"] == outcome.version
        answer = client.post("/v1/predict", json=RECORD)
        assert answer.status_code == 200, answer.text
        assert 0 <= answer.json()["predictions"][0]["probability"] <= 1
    run = MlflowClient().get_run(info["run_id"])
    assert run.data.params["train.model.kind"] == model["kind"]

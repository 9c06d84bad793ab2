"""A multiclass and a regression target go through the guide's commands, end to end, on datasets scikit-learn
ships on disk (nothing is downloaded): the wine cultivars (three classes, a column name with a slash) and the
diabetes progression (a number; `sex` coded 1/2 as a category). For each: a contract and params.yaml edited as
docs/bring-your-own-data.md says, then ingest, the training flow (version, train, gate), the service and a
replay, the monitor judging the champion on newly labelled rows, and batch scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from pipelines.core.lineage import configure_mlflow
from pipelines.core.prediction_log import read_window
from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from tests.conftest import make_workspace

pytestmark = pytest.mark.e2e
CULTIVARS = ["barolo", "grignolino", "barbera"]


def _wine() -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = [CULTIVARS[int(c)] for c in frame.pop("target")]
    columns = {n: {"kind": "numeric", "description": n, "example": float(frame[n].iloc[0])} for n in frame.columns[:-1]}
    columns["cultivar"] = {"kind": "target", "description": "The grape.", "task": "multiclass", "allowed": CULTIVARS}
    gate = {"metric": "macro_f1", "floors": {"macro_f1": 0.5}, "ceilings": {"log_loss": 2.0}}
    return frame, columns, gate


def _diabetes() -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    frame["sex"] = frame["sex"].astype(int)  # written 1 and 2: a category in numbers
    columns = {n: {"kind": "numeric", "description": n, "example": float(frame[n].iloc[0])} for n in frame.columns}
    columns["sex"] = {"kind": "categorical", "description": "Sex, coded.", "example": "1", "allowed": [1, 2]}
    columns["progression"] = {"kind": "target", "description": "Disease a year on.", "task": "regression", "min": 0}
    # 440 rows leave a holdout of about 60: the floor only asks for better than predicting the mean.
    gate = {"metric": "rmse", "floors": {"r2": 0.0}, "ceilings": {}}
    return frame, columns, gate


DATASETS = {"multiclass": _wine, "regression": _diabetes}


def _relay(root: Path, env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "relay"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode in ok, f"relay {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _project(root: Path, task: str, columns: dict[str, Any], gate: dict[str, Any]) -> str:
    """contract.yaml, params.yaml and the model's name, edited as the guide says; returns the target."""
    target = next(n for n, c in columns.items() if c["kind"] == "target")
    contract = {
        "name": f"sklearn-{task}",
        "batch_column": "batch_id",
        "target": target,
        "batch": {"min_rows": 10},
        "columns": {"batch_id": {"kind": "batch", "description": "Delivery.", "example": "part-1"}, **columns},
    }
    (root / "contract.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ingest"] |= {"source": "folder", "path": "landing"}
    params["evaluate"]["segments"] = ["sex"] if task == "regression" else []
    params["promote"] = gate | {"min_improvement": 0.0}
    params["monitor"] |= {"min_rows": 30}
    # A few hundred rows: the default leaves (40 rows) would make stumps. The regression swaps the model kind too.
    params["train"]["model"] = (
        {"kind": "random_forest", "n_estimators": 100, "min_samples_leaf": 5}
        if task == "regression"
        else {"kind": "hist_gradient_boosting", "min_samples_leaf": 5}
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with (root / "pyproject.toml").open("a") as out:
        out.write(f'\n[tool.relay]\nmodel_name = "{task}"\n')
    return target


def _serve_and_replay(root: Path, env: dict[str, str], later: Path, record: dict[str, Any]) -> tuple[Any, Any]:
    """`relay serve` in the background, `relay replay --file`, one request of our own; the answer and the
    OpenAPI document."""
    service = subprocess.Popen(
        [str(Path(sys.executable).parent / "relay"), "serve"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['RELAY_API_PORT']}"
    try:
        wait = f"until curl -sf {url}/health/ready > /dev/null; do sleep 1; done"
        subprocess.run(["timeout", "120", "bash", "-c", wait], check=True)
        _relay(root, env, "replay", "--file", str(later))
        body = json.dumps(record)
        curl = ["curl", "-sf", f"{url}/v1/predict", "-H", "content-type: application/json", "-d", body]
        answer = subprocess.run(curl, check=True, capture_output=True, text=True).stdout
        schema = subprocess.run(["curl", "-sf", f"{url}/openapi.json"], check=True, capture_output=True, text=True)
    finally:
        service.terminate()
        service.wait(timeout=60)
    return json.loads(answer)["predictions"][0], json.loads(schema.stdout)


@pytest.mark.parametrize("task", list(DATASETS))
def test_a_task_goes_through_the_guides_commands(task: str, tmp_path: Path) -> None:
    frame, columns, gate = DATASETS[task]()
    root = make_workspace(tmp_path / "ws")
    target = _project(root, task, columns, gate)
    # Three deliveries: two to train on, the third served first and labelled later.
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    parts = np.array_split(np.arange(len(shuffled)), 3)
    (root / "landing").mkdir()
    for i, rows in enumerate(parts[:2], start=1):
        shuffled.iloc[rows].to_csv(root / "landing" / f"part-{i}.csv", index=False)
    later = root / "later.csv"
    shuffled.iloc[parts[2]].to_csv(later, index=False)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env |= {"PREFECT_HOME": str(root / "local" / "prefect"), "RELAY_API_PORT": str(free_port())}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    _relay(root, env, "data", "ingest")
    assert "version 1: promoted" in _relay(root, env, "pipeline")
    metrics = json.loads((root / "metrics" / "holdout.json").read_text())
    assert set(gate["floors"]) <= set(metrics)

    record = shuffled.drop(columns=[target]).iloc[0].to_dict()
    record = {k: (str(int(v)) if k == "sex" else float(v)) for k, v in record.items()}
    prediction, schema = _serve_and_replay(root, env, later, record)
    if task == "multiclass":
        assert prediction["label"] in CULTIVARS and set(prediction["probabilities"]) == set(CULTIVARS)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert "ClassPrediction" in schema["components"]["schemas"]
    else:
        assert set(prediction) == {"value"} and 0 < prediction["value"] < 400
        assert "ValuePrediction" in schema["components"]["schemas"]
    s = Settings(root=root)
    logged = read_window(s.prediction_log, s.contract, 1000)
    assert len(logged) == len(parts[2]) + 1 and logged["flagged"].isna().all()

    # The labels arrive: the third delivery lands, and the monitor judges the champion on it.
    _relay(root, env, "data", "ingest", "--file", str(later))
    _relay(root, env, "monitor", "--no-retrain", ok=(0, 3))
    decision = json.loads(max((root / "reports" / "monitoring").glob("*/decision.json")).read_text())
    quality = decision["model_quality"]
    assert quality["status"] == "judged", quality
    assert quality["metric"] == gate["metric"] and quality["labelled_rows"] == len(parts[2])
    # part:batch-scoring:begin
    _relay(root, env, "score", "--file", str(later), "--out", "scored.parquet")
    scored = pd.read_parquet(root / "scored.parquet")
    expected = {"label", *(f"probability_{c}" for c in CULTIVARS)} if task == "multiclass" else {"value"}
    assert expected <= set(scored.columns) and len(scored) == len(parts[2])
    # part:batch-scoring:end

    configure_mlflow(s.tracking_uri)
    champion = MlflowClient().get_model_version_by_alias(task, "champion")
    assert champion.tags["relay.task"] == task and "relay.threshold" not in champion.tags

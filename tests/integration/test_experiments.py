"""The data scientist's experiment hygiene with real MLflow and DVC: what a run records, DVC experiments with
params overrides, and refusing to train when the result could not be recorded (sweeps and comparisons:
test_sweeps.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _client(root: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.settings import Settings

    configure_mlflow(Settings(root=root).tracking_uri)
    return MlflowClient()


def test_training_run_records_plots_segments_and_validation_numbers(trained_workspace: Path) -> None:
    client = _client(trained_workspace)
    run = client.get_run(client.get_model_version_by_alias("relay-returns", "champion").run_id)
    plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots")}
    # part:pictures:begin
    pictures = {"confusion.png", "roc.png", "pr.png", "calibration.png", "importance.png", "segments.png"}
    assert pictures <= plots
    # part:pictures:end
    assert {"roc.json", "pr.json", "calibration.json", "importance.json"} <= plots
    evaluation = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "segments.json" in evaluation
    metrics = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "metrics")}
    assert {"holdout.json", "segments.json"} <= metrics
    m = run.data.metrics
    assert {"validation_roc_auc", "precision", "recall", "cost_per_1000"} <= set(m)
    info = json.loads((trained_workspace / "models" / "model_info.json").read_text())
    assert run.data.params["threshold"] == str(info["threshold"])
    assert run.data.tags["relay.threshold"] == str(info["threshold"])
    # part:pictures:begin
    png = (trained_workspace / "plots" / "roc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    # part:pictures:end


def test_unreachable_tracking_store_refuses_before_any_stage_runs(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.core.settings import Settings
    from pipelines.flows.training import training_flow

    for uri, message in (
        ("http://127.0.0.1:9", "unreachable"),
        ("sqlite:////proc/relay-cannot-write-here/mlflow.db", "cannot be created"),
        ("postgresql+psycopg://nobody@127.0.0.1:9/mlflow", "cannot be used"),
    ):
        monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", uri)
        with pytest.raises(ConnectionError, match=message):
            training_flow(trigger="manual", settings=Settings())
    assert not (workspace / "dvc.lock").exists() and not (workspace / "models").exists()


def test_dvc_exp_run_takes_params_overrides(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented DVC-experiments route: a queued/temp run with `-S`, compared with `dvc exp show`."""
    import shutil
    import subprocess

    ws = tmp_path / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    monkeypatch.delenv("RELAY_ROOT", raising=False)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(ws)
    git = ["git", "-c", "user.name=relay-test", "-c", "user.email=test@relay.invalid"]
    # Other tests share the trained workspace (one leaves a failed validation report in metrics/), so bring
    # it up to date first, as a user's `relay pipeline` would have.
    subprocess.run(["dvc", "repro"], check=True, capture_output=True)
    subprocess.run([*git, "add", "dvc.lock", "metrics", "plots"], check=True)
    subprocess.run([*git, "commit", "-qm", "first model"], check=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        ["dvc", "exp", "run", "--temp", "--allow-missing", "-S", "train.model.max_iter=20", "-n", "it20"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "'validate' didn't change" in run.stdout and "'version' didn't change" in run.stdout
    show = json.loads(
        subprocess.run(["dvc", "exp", "show", "--json"], capture_output=True, text=True, check=True).stdout
    )
    # Entries: the workspace, then each baseline commit with its experiments.
    baseline = next(b for b in show if any(e["name"] == "it20" for e in b.get("experiments") or []))
    exp = next(e for e in baseline["experiments"] if e["name"] == "it20")["revs"][0]["data"]
    assert exp["params"]["params.yaml"]["data"]["train"]["model"]["max_iter"] == 20
    ours = exp["metrics"]["metrics/holdout.json"]["data"]
    base = baseline["data"]["metrics"]["metrics/holdout.json"]["data"]
    assert ours["rows"] == base["rows"] and ours["roc_auc"] != base["roc_auc"]
    assert (
        subprocess.run(["git", "diff", "--quiet", "params.yaml"], check=False).returncode == 0
    )  # --temp left it alone
    # The plots compare across experiments too: JSON curves as data, PNGs as one image per revision.
    plots = subprocess.run(
        ["dvc", "plots", "diff", "it20", "--json", "-o", str(tmp_path / "dvc_plots")],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(plots.stdout)["data"]
    assert {"plots/roc.json", "plots/pr.json", "plots/calibration.json", "plots/importance.json"} <= set(data)
    # part:pictures:begin
    images = data["plots/segments.png"]
    assert {tuple(i["revisions"]) for i in images} == {("workspace",), ("it20",)}
    assert all(Path(i["url"]).read_bytes().startswith(b"\x89PNG") for i in images)
    # part:pictures:end

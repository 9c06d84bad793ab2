"""The data scientist's experiment hygiene with real MLflow, Prefect and DVC: what a run records, sweeps as
parallel nested runs, comparison, and refusing to train when the result could not be recorded."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


def _client(root: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.settings import Settings

    configure_mlflow(Settings(root=root).tracking_uri)
    return MlflowClient()


@pytest.fixture
def in_workspace(trained_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELAY_ROOT", str(trained_workspace))
    monkeypatch.setenv("PREFECT_HOME", str(trained_workspace / "local" / "prefect"))
    monkeypatch.chdir(trained_workspace)
    return trained_workspace


def test_training_run_records_plots_segments_and_validation_numbers(trained_workspace: Path) -> None:
    client = _client(trained_workspace)
    run = client.get_run(client.get_model_version_by_alias("relay-returns", "champion").run_id)
    plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"confusion.png", "roc.png", "pr.png", "calibration.png", "importance.png", "segments.png"} <= plots
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
    png = (trained_workspace / "plots" / "roc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_sweep_runs_trials_in_parallel_as_nested_runs(in_workspace: Path) -> None:
    from pipelines.flows.sweep import run_sweep

    params = in_workspace / "params.yaml"
    saved = params.read_text()
    # Slow learning rates: each trial trains for a few seconds, longer than worker start-up jitter, so
    # the overlap below shows parallel trials rather than a lucky start.
    data = yaml.safe_load(saved)
    data["sweep"]["space"] = {"learning_rate": [0.01, 0.015, 0.02], "max_leaf_nodes": [63]}
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        result = run_sweep(trials=3, parallel=2, runner="processes")
    finally:
        params.write_text(saved)
    assert result["failed"] == 0 and len(result["trials"]) == 4  # baseline + 3
    client = _client(in_workspace)
    parent = client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["relay.owner"] == "data-scientist"
    children = client.search_runs([result["experiment_id"]], f"tags.`mlflow.parentRunId` = '{result['parent_run_id']}'")
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    best = [c for c in children if c.data.tags.get("relay.sweep.best") == "true"]
    assert [b.info.run_id for b in best] == [parent.data.tags["relay.sweep.best_run_id"]]
    # Parallel for real: both worker processes of the pool ran trials. (Whether their run times overlap
    # depends on start-up jitter against trials of a second or two here, so it is not asserted; the speed-up
    # is measured in benchmarks/training.py.)
    pids = [c.data.tags["relay.sweep.worker_pid"] for c in children]
    assert len(set(pids)) == 2
    # The baseline trial refits params.yaml's values on the same split as the train stage, in another
    # process: the validation numbers must match the train stage's to the last digit.
    info = json.loads((in_workspace / "models" / "model_info.json").read_text())
    baseline = result["baseline"]["metrics"]
    assert baseline["roc_auc"] == info["validation"]["roc_auc"] and baseline["threshold"] == info["threshold"]
    assert set(result["adopt"]) <= {"learning_rate", "max_leaf_nodes"} and not result["applied"]
    assert params.read_text() == saved


def test_compare_shows_runs_side_by_side_with_data_versions(in_workspace: Path) -> None:
    from pipelines.cli.main import app
    from pipelines.data.version import data_version

    runner = CliRunner()
    out = runner.invoke(app, ["experiments", "compare", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert rows and rows[0]["data_version"] == data_version(in_workspace)
    assert rows[0]["registered"].startswith("v1") and "train.learning_rate" in rows[0]["params"]
    table = runner.invoke(app, ["experiments", "compare", "--metric", "brier"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and data_version(in_workspace)[:10] in table.output
    bad = runner.invoke(app, ["experiments", "compare", "--top", "0"])
    assert bad.exit_code == 2


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
        ["dvc", "exp", "run", "--temp", "--allow-missing", "-S", "train.max_iter=20", "-n", "it20"],
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
    assert exp["params"]["params.yaml"]["data"]["train"]["max_iter"] == 20
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
    images = data["plots/segments.png"]
    assert {tuple(i["revisions"]) for i in images} == {("workspace",), ("it20",)}
    assert all(Path(i["url"]).read_bytes().startswith(b"\x89PNG") for i in images)

"""Sweeps as parallel nested MLflow runs, and runs compared side by side (the experiments part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.integration.test_experiments import _client

pytestmark = pytest.mark.integration


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
    assert rows[0]["registered"].startswith("v1") and "learning_rate" in rows[0]["params"]
    table = runner.invoke(app, ["experiments", "compare", "--metric", "brier"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and data_version(in_workspace)[:10] in table.output
    bad = runner.invoke(app, ["experiments", "compare", "--top", "0"])
    assert bad.exit_code == 2

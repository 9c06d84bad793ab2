"""The whole demo, as `relay demo`, in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.core.handoffs import DemoSummary
from tests.conftest import make_workspace

pytestmark = pytest.mark.e2e


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:  # noqa: PLR0915 (the demo runs once, a minute: one story)
    root = make_workspace(tmp_path / "relay")
    # As on a fresh machine: no configured Prefect server (not the test run's), so the demo starts its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "PREFECT_API_URL"))}
    env["PREFECT_HOME"] = str(root / "pf")
    relay = Path(sys.executable).parent / "relay"
    result = subprocess.run(
        [str(relay), "demo"], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for stage, owner in [
        ("ingest", "Data engineer"),
        ("validate", "Data engineer"),
        ("train", "Data scientist"),
        ("track", "Data scientist"),
        ("register", "ML engineer"),
        ("serve", "ML engineer"),
        ("monitor", "MLOps engineer"),
        ("retrain", "MLOps engineer"),
    ]:
        assert any(stage in line and owner in line for line in out.splitlines()), f"no {stage}/{owner} line"
    assert "What the demo produced" in out

    assert set(yaml.safe_load((root / "dvc.lock").read_text())["stages"]) == {
        "validate",
        "version",
        "train",
        "evaluate",
    }
    summary = DemoSummary.read(root / "reports" / "demo" / "summary.json")
    assert summary.drift.drift is True and "brand" in summary.drift.drifted_features
    assert Path(summary.drift.report).is_file()
    assert summary.retrain.retrain is True
    second = summary.second
    assert second is not None and second.promoted is True and second.trigger == "drift"
    assert second.candidate_metrics["roc_auc"] > second.champion_metrics["roc_auc"]

    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.prediction_log import read_window
    from pipelines.core.settings import Settings

    s = Settings(root=root)
    configure_mlflow(s.tracking_uri)
    client = MlflowClient()
    versions = client.search_model_versions("name = 'relay-returns'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert str(client.get_model_version_by_alias("relay-returns", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("relay-returns", "previous-champion").version) == "1"
    assert len(read_window(s.prediction_log, s.contract, 100_000)) == 5000

    # The demo must not dirty the template: generated files are ignored, DVC's own ignores are committed.
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    assert changed == "", changed
    run = client.get_run(client.get_model_version_by_alias("relay-returns", "champion").run_id)
    assert not run.data.tags["relay.git_commit"].endswith("-dirty")
    assert run.data.tags["relay.trigger_reason"].startswith("drift in brand, discount, price")

    # The monitoring history holds the one decision and what retraining did about it, in order.
    from pipelines.monitoring import history

    runs = history.read(s.monitoring_store)  # newest first
    assert len(runs) == 2 and runs.iloc[1]["model_quality"] == "no labelled rows since the champion was trained"
    assert "waiting for 1000" in runs.iloc[1]["retraining"]
    assert (
        runs.iloc[0]["model_quality"].startswith("roc_auc ")
        and "5000 newly labelled rows" in runs.iloc[0]["model_quality"]
    )
    assert runs.iloc[0]["retraining"].startswith("v2 trained on data")
    assert str(summary.retrain.outcome).startswith("v2 trained on data")

    # part:lineage:begin
    # "Where did this prediction come from?": one served request, followed back to its data version.
    import sqlalchemy as sa

    engine = sa.create_engine(s.prediction_log)
    with engine.connect() as conn:
        request_id = conn.execute(sa.text("SELECT request_id FROM predictions ORDER BY id LIMIT 1")).scalar_one()
    engine.dispose()
    traced = subprocess.run(
        [str(relay), "lineage", request_id, "--json"], check=True, cwd=root, env=env, capture_output=True, text=True
    )
    links = {link["stage"]: link for link in json.loads(traced.stdout)}
    assert list(links) == ["serve", "register", "track", "version", "code"]
    assert links["serve"]["owner"] == "ML engineer" and links["version"]["owner"] == "Data engineer"
    v1 = client.get_model_version("relay-returns", "1")
    assert links["serve"]["facts"]["model"] == "relay-returns version 1"  # week 5 was served by the first champion
    assert links["track"]["what"].startswith(f"MLflow run {v1.run_id}")
    first_data = client.get_run(v1.run_id).data.tags["relay.data_version"]
    assert links["version"]["facts"]["md5"] == first_data and summary.first.data_version == first_data
    assert links["version"]["restore"] == f"relay data checkout {first_data[:10]}"
    assert (
        "batch-0004" in links["version"]["facts"]["batches"]
        and "batch-0005" not in links["version"]["facts"]["batches"]
    )
    assert links["code"]["restore"].startswith("git checkout ")
    # part:lineage:end
    # part:teaching:begin

    # The newcomer's tour shows this run's real artifacts at every hand-off.
    wide = env | {"COLUMNS": "240"}
    tour = subprocess.run([str(relay), "tour"], check=True, cwd=root, env=wide, capture_output=True, text=True)
    v2 = client.get_model_version("relay-returns", "2")
    second_data = client.get_run(v2.run_id).data.tags["relay.data_version"]
    for expected in (
        f"data version {second_data}",  # version: the data engineer's hand-off
        f"MLflow run {v2.run_id}",  # track: the data scientist's hand-off
        "a hist_gradient_boosting model",  # train: the kind params.yaml chose
        "relay-returns v2 @champion",  # register: the ML engineer's verdict
        "POST /v1/predict",  # serve: the OpenAPI contract
        "drift in brand",  # monitor: the decision
        "v2 trained on data",  # retrain: what the loop did
    ):
        assert expected in tour.stdout, f"`relay tour` lacks {expected!r}:\n{tour.stdout[-4000:]}"
    assert "nothing yet" not in tour.stdout
    day = subprocess.run(
        [str(relay), "tour", "--role", "ml-engineer"], check=True, cwd=root, env=wide, capture_output=True, text=True
    )
    assert "ML engineer: a day in Relay" in day.stdout and "Tighten the promotion gate" in day.stdout
    assert "relay-returns v2 @champion" in day.stdout
    # part:teaching:end

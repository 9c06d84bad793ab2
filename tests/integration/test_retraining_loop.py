"""The retraining loop with real DVC, MLflow, Prefect and Evidently, in one workspace, as weeks go by:

1. weeks 1-3 train champion v1;
2. week 4 arrives as traffic with drift: the monitor fires, but no labels have landed, so retraining waits;
3. week 4's labels land, but MLflow is down when retraining starts: the failure is recorded, v1 keeps serving;
4. the monitor runs again: it judges v1 on week 4's labels and retrains; v2 replaces v1 only if the gate finds
   it better on the new holdout, and the MLflow run says why it was trained;
5. week 5 drifts again under a gate that demands an impossible improvement: the challenger is kept aside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.core.settings import Settings
from tests.conftest import make_workspace

pytestmark = pytest.mark.integration
ROWS = 4000
DRIFT = ("new_brand", "promotion")


def _client(s: Settings):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(s.tracking_uri)
    return MlflowClient()


def champion(s: Settings) -> str:
    return str(_client(s).get_model_version_by_alias(s.model_name, "champion").version)


def land(s: Settings, batch: int, scenarios: tuple[str, ...] = ()) -> None:
    from pipelines.data import ingest

    ingest.run(
        f"batch-{batch:04d}", ingest.generator_chunks(batch, ROWS, 42, scenarios), ingest.Landing.from_settings(s)
    )


def serve_week(s: Settings, batch: int, scenarios: tuple[str, ...]) -> None:
    """What the service would log for a week of orders: the champion's predictions, no labels."""
    import mlflow.sklearn

    from pipelines.core.prediction_log import PredictionLogWriter, now_utc
    from pipelines.data.generator import generate_batch

    version = champion(s)
    features = generate_batch(batch, ROWS, 42, scenarios, with_label=False)[s.contract.feature_columns()]
    proba = mlflow.sklearn.load_model(f"models:/{s.model_name}/{version}").predict_proba(features)[:, 1]
    records = features.astype(object).where(features.notna(), None).to_dict(orient="records")
    writer = PredictionLogWriter(s.prediction_log, s.contract)
    meta = {"request_id": f"week-{batch}", "ts": now_utc(), "model_version": version, "latency_ms": 1.0}
    writer.log_predictions(records, proba.tolist(), [bool(p > 0.5) for p in proba], **meta)
    assert writer.close() == 0


def set_params(root: Path, section: str, **values: Any) -> None:
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    data[section].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = make_workspace(
        tmp_path_factory.mktemp("loop") / "ws",
        params={"ingest": {"rows_per_batch": ROWS}, "version": {"reference_rows": 1000}},
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("RELAY_ROOT", str(root))
    mp.setenv("PREFECT_HOME", str(root / "local" / "prefect"))
    mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (root / "local" / "prefect").mkdir(parents=True)
    mp.chdir(root)
    from pipelines.flows.monitoring import monitoring_flow
    from pipelines.flows.retraining import RetrainingError, retraining_flow
    from pipelines.flows.training import training_flow

    try:
        s = Settings()
        out: dict[str, Any] = {"root": root}
        for b in (1, 2, 3):
            land(s, b)
        training_flow(trigger="initial", settings=s)
        serve_week(s, 4, DRIFT)
        out["waiting"] = monitoring_flow(retrain=True, settings=s)
        land(s, 4, DRIFT)
        mlflow_down = s.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
        try:
            retraining_flow(decision=out["waiting"], settings=mlflow_down)
        except RetrainingError as exc:
            out["failed"] = exc.result
        out["champion_after_failure"] = champion(s)
        out["retrained"] = monitoring_flow(retrain=True, settings=s)
        out["champion_after_retraining"] = champion(s)
        out["promote"] = s.params.promote  # the gate as it was for that retraining
        set_params(root, "promote", min_improvement=0.5)
        set_params(root, "monitor", drift_share=0.05)  # any drifted column: v2's reference already saw week 4
        s = Settings()
        serve_week(s, 5, DRIFT)
        land(s, 5, DRIFT)
        before = champion(s)
        out["kept"] = monitoring_flow(retrain=True, settings=s)
        out["champion_before_kept"], out["champion_after_kept"] = before, champion(s)
        yield out
    finally:
        mp.undo()


def test_drift_without_labels_waits(story: dict[str, Any]) -> None:
    d = story["waiting"]
    assert d.drift is True and {"brand", "discount", "price"} <= set(d.drifted_features)
    assert d.model_quality.status == "no labels" and d.model_quality.ok is None
    r = d.retraining
    assert r.retrain is False and r.training is None
    assert "but only 0 new labelled rows; waiting for 1000" in r.outcome


def test_failed_retraining_keeps_the_champion_and_says_why(story: dict[str, Any]) -> None:
    r = story["failed"]
    assert r.failed is True and r.training is None
    assert "MLflow tracking server http://127.0.0.1:9 is unreachable" in r.outcome
    assert "the champion was not changed" in r.outcome
    assert story["champion_after_failure"] == "1"


def test_new_labels_are_judged_and_drift_retrains_to_a_better_champion(story: dict[str, Any]) -> None:
    d = story["retrained"]
    quality = d.model_quality
    assert quality.status == "judged" and quality.labelled_rows == ROWS and quality.batches == ["batch-0004"]
    assert Path(quality.report).name == "quality.html" and Path(quality.report).is_file()
    r = d.retraining
    assert r.retrain is True and not r.failed, r.outcome
    trained = r.training
    metric, min_gain = story["promote"].metric, story["promote"].min_improvement
    gain = trained.candidate_metrics[metric] - trained.champion_metrics[metric]
    # Only if better: the gate's verdict must follow the numbers it recorded.
    assert trained.promoted is (gain >= min_gain), trained
    assert story["champion_after_retraining"] == (trained.version if trained.promoted else "1")
    assert trained.promoted, f"the demo's drift should be worth a new model (gain {gain:.4f})"
    run = _client(Settings(root=story["root"])).get_run(trained.run_id)
    assert run.data.tags["relay.trigger"] == "drift"
    assert "drift in brand" in run.data.tags["relay.trigger_reason"]
    assert "4000 new labelled rows" in run.data.tags["relay.trigger_reason"]


def test_a_challenger_that_is_not_better_is_kept_aside(story: dict[str, Any]) -> None:
    r = story["kept"].retraining
    assert r.retrain is True and not r.failed, r.outcome
    assert r.training.promoted is False
    assert "kept, champion v2 keeps serving" in r.outcome and "0.5" in r.outcome
    assert story["champion_before_kept"] == story["champion_after_kept"] == "2"
    s = Settings(root=story["root"])
    aliases = _client(s).get_registered_model(s.model_name).aliases
    assert str(aliases["challenger"]) == r.training.version


def test_history_and_index_tell_the_whole_story(story: dict[str, Any]) -> None:
    from pipelines.monitoring import history

    s = Settings(root=story["root"])
    runs = history.read(s.monitoring_store)
    assert len(runs) == 3  # test_relay_monitor_exits_3_on_drift, further down the file, adds a fourth
    oldest = runs.iloc[-1]["retraining"]
    assert oldest.startswith("not retrained:") and "then retraining failed (ConnectionError" in oldest
    assert "promoted" in runs.iloc[1]["retraining"] and runs.iloc[1]["model_quality"].startswith("roc_auc ")
    page = (s.reports_dir / "monitoring" / "index.html").read_text()
    assert 'id="latest-retraining">Retraining: challenger v3 kept' in page
    assert "quality.html" in page


def relay(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = Settings(root=root).child_env() | {"PREFECT_HOME": str(root / "local" / "prefect")}
    command = [str(Path(sys.executable).parent / "relay"), *args]
    return subprocess.run(command, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=180)


def test_relay_retrain_dry_run_does_not_train_again_on_the_same_labels(story: dict[str, Any]) -> None:
    done = relay(story["root"], "retrain", "--dry-run")
    # The newest decision still shows drift and batch 5 is still new to champion v2, but challenger v3 was
    # trained on every landed batch and lost: training again on the same labels would only repeat that.
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("would not retrain: challenger v3 was already trained on every landed batch")


def test_relay_monitor_exits_3_on_drift(story: dict[str, Any]) -> None:
    done = relay(story["root"], "monitor", "--no-retrain")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "drift: True" in done.stdout and "Traceback" not in done.stderr

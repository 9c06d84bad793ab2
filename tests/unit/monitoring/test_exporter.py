from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from pipelines.core.handoffs import Retraining
from pipelines.monitoring import history
from pipelines.monitoring.exporter import MonitoringCollector
from tests.unit.monitoring.test_history import decision


def scrape(url: str, **options: float) -> str:
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(url, **options))
    return generate_latest(registry).decode()


def test_no_runs_yet(tmp_path: Path) -> None:
    text = scrape(f"sqlite:///{tmp_path}/history.db")
    assert "relay_monitor_runs 0.0" in text and "relay_drift_detected" not in text
    # The stale-run alert's bound is served even before the first run (two hours unless told otherwise).
    assert "relay_monitor_max_age_seconds 7200.0" in text
    assert "relay_monitor_max_age_seconds 300.0" in scrape(f"sqlite:///{tmp_path}/history.db", max_age_s=300)


def test_gauges_show_the_newest_run_and_its_features(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "monitoring"
    history.record(decision(reports, "20261120T100000Z", False, []), url, reports)
    columns = {
        "brand": {"score": 0.31, "method": "Jensen-Shannon distance", "threshold": 0.1, "drifted": True},
        "price": {"score": 0.02, "method": "Wasserstein distance (normed)", "threshold": 0.1, "drifted": False},
    }
    quality = {
        "status": "judged",
        "labelled_rows": 3000,
        "ok": False,
        "metric": "roc_auc",
        "value": 0.613,
        "limit": 0.679,
    }
    retraining = Retraining(retrain=True, reason="drift in brand", failed=True)
    newest = decision(
        reports, "20261121T100000Z", True, ["brand"], columns=columns, model_quality=quality | {"message": "worse"}
    )
    newest.model_copy(update={"retraining": retraining}).write(newest.path)
    history.record(newest, url, reports)
    text = scrape(url)
    assert "relay_monitor_runs 2.0" in text
    assert 'relay_drift_detected{model_version="2"} 1.0' in text
    assert 'relay_drift_share{model_version="2"} 0.4' in text
    assert 'relay_data_quality_ok{model_version="2"} 0.0' in text
    assert 'relay_feature_drifted{feature="brand",model_version="2"} 1.0' in text
    assert 'relay_feature_drifted{feature="price",model_version="2"} 0.0' in text
    assert 'relay_feature_drift_score{feature="brand",method="Jensen-Shannon distance",model_version="2"} 0.31' in text
    assert "relay_monitor_last_run_timestamp_seconds" in text and "NaN" not in text
    assert 'relay_model_quality_ok{model_version="2"} 0.0' in text
    assert 'relay_model_quality{model_version="2"} 0.613' in text
    assert 'relay_model_quality_limit{model_version="2"} 0.679' in text
    assert 'relay_model_quality_labelled_rows{model_version="2"} 3000.0' in text
    assert 'relay_retraining_failed{model_version="2"} 1.0' in text


def test_a_run_without_labels_has_no_quality_verdict(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "monitoring"
    quality = {"status": "no labels", "labelled_rows": 0, "ok": None, "message": "no labels"}
    run = decision(reports, "20261121T100000Z", True, ["brand"], model_quality=quality)
    run.write(run.path)
    history.record(run, url, reports)
    text = scrape(url)
    assert 'relay_model_quality_labelled_rows{model_version="2"} 0.0' in text
    assert "relay_model_quality_ok" not in text and "relay_model_quality{" not in text
    assert "relay_retraining_failed" not in text  # this run started no retraining

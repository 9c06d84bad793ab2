"""Monitoring flow (MLOps engineer): prediction-log window + champion reference → drift decision, the champion's
quality on labels that arrived since it was trained, a row in the history, and retraining when called for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, task

from pipelines.flows.common import RETRY_TRANSIENT, banner, note, prepare_environment, timed
from pipelines.ownership import prefect_tags
from pipelines.settings import Settings, get_settings


@task(name="load-reference", tags=prefect_tags("monitor"), **RETRY_TRANSIENT)
def load_reference(settings: Settings) -> dict[str, Any]:
    """The champion as the monitor needs it: its reference sample (found through the registry and its MLflow
    run), data version, version number, decision threshold and ROC AUC on its own holdout."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.lineage import configure_mlflow

    configure_mlflow(settings.tracking_uri)
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(settings.model_name, "champion")
    except MlflowException:
        raise FileNotFoundError(
            f"model {settings.model_name!r} has no champion, so there is no reference to "
            "compare with; run the training flow first"
        ) from None
    path = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="reference/reference.parquet")
    # The gate wrote the champion's holdout score on the version; older versions only have the run's metric.
    baseline = mv.tags.get("metric.roc_auc") or client.get_run(str(mv.run_id)).data.metrics.get("roc_auc", float("nan"))
    return {
        "reference": pd.read_parquet(path),
        "data_version": mv.tags.get("relay.data_version", "unknown"),
        "version": str(mv.version),
        "threshold": float(mv.tags.get("relay.threshold", "0.5")),
        "baseline_roc_auc": float(baseline),
    }


@task(name="drift-report", tags=prefect_tags("monitor"))
def drift_report(settings: Settings, champion: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    from pipelines.monitoring import drift
    from pipelines.prediction_log import read_window

    p = settings.params.monitor
    # Only traffic the champion scored: its reference holds its own predictions, so mixing in rows scored by
    # an earlier model would read as prediction drift.
    since = datetime.now(UTC) - timedelta(hours=p.window_hours) if p.window_hours else None
    window = read_window(
        settings.prediction_log, settings.contract, p.window_rows, model_version=champion["version"], since=since
    )
    return drift.run(
        window,
        champion["reference"],
        out_dir,
        settings.contract,
        drift_share=p.drift_share,
        min_rows=p.min_rows,
        max_missing_increase=p.max_missing_increase,
        sample_rows=p.sample_rows,
        reference_version=champion["data_version"],
        model_version=champion["version"],
    )


@task(name="model-quality", tags=prefect_tags("monitor"), **RETRY_TRANSIENT)
def model_quality(settings: Settings, champion: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The champion scored on the batches labelled since its training data, judged by Evidently."""
    from pipelines.monitoring import labels, quality

    s, p = settings, settings.params.monitor
    known, source = labels.champion_batches(s.versions_catalog, champion["data_version"], s.dataset_dir)
    new = labels.new_labels(s.raw_dir, known, source)
    frame = labels.read_labelled(s.raw_dir, new, s.contract, p.sample_rows)
    if len(frame):
        import mlflow.sklearn

        from pipelines.lineage import configure_mlflow

        configure_mlflow(s.tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{s.model_name}/{champion['version']}")
        frame["prediction"] = model.predict_proba(frame[s.contract.feature_columns()])[:, 1]
    else:
        frame["prediction"] = []
    judged = quality.run(
        frame,
        out_dir,
        s.contract,
        baseline_roc_auc=champion["baseline_roc_auc"],
        max_roc_auc_drop=p.max_roc_auc_drop,
        threshold=champion["threshold"],
        min_rows=p.min_rows,
    )
    return {**judged, "batches": new.batches, "labels": new.describe()}


@task(name="record-history", tags=prefect_tags("monitor"))
def record_history(settings: Settings, decision: dict[str, Any]) -> str:
    from pipelines.atomic import write_json
    from pipelines.monitoring import history

    # drift.run wrote the decision before the quality check; the file must hold the whole decision.
    write_json(decision, Path(decision["report"]).with_name("decision.json"))
    return str(history.record(decision, settings.monitoring_store, settings.reports_dir / "monitoring"))


@flow(name="monitoring")
def monitoring_flow(retrain: bool | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Judge the newest traffic and labels against the champion; start retraining when the decision calls for it
    (`retrain`, default `retrain.automatic` in params.yaml)."""
    s = settings or get_settings()
    prepare_environment(s)
    banner("monitor", f"Evidently drift report over the last {s.params.monitor.window_rows} logged predictions")
    with timed("monitor"):
        champion = load_reference(s)
        out_dir = s.reports_dir / "monitoring" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        decision = drift_report(s, champion, out_dir)
        decision["model_quality"] = model_quality(s, champion, out_dir)
        decision["index"] = record_history(s, decision)
    colour = "red" if decision["drift"] else "green"
    note(
        f"[{colour}]drift={decision['drift']}[/] share of drifted columns {decision['drift_share']:.2f} "
        f"(threshold {decision['drift_share_threshold']}); drifted: {', '.join(decision['drifted_features']) or '-'}"
    )
    quality = decision["data_quality"]
    if quality["problems"]:
        note(f"[yellow]data quality[/]: {'; '.join(quality['problems'])}")
    judged = decision["model_quality"]
    note(
        ("[red]" if judged["ok"] is False else "")
        + f"model quality: {judged['message']}"
        + ("[/]" if judged["ok"] is False else "")
    )
    note(f"report: {decision['report']}; every run: {decision['index']}")
    if retrain if retrain is not None else s.params.retrain.automatic:
        from pipelines.flows.retraining import retraining_flow

        decision["retraining"] = retraining_flow(decision=decision, settings=s)
    return decision

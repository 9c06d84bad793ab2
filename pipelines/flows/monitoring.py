"""Monitoring flow (MLOps engineer): prediction-log window + champion reference → drift decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, task

from pipelines.flows.common import RETRY_TRANSIENT, banner, note, prepare_environment, timed
from pipelines.ownership import prefect_tags
from pipelines.settings import Settings, get_settings


@task(name="load-reference", tags=prefect_tags("monitor"), **RETRY_TRANSIENT)
def load_reference(settings: Settings) -> tuple[Any, str, str]:
    """The champion's reference sample, found through the registry and its MLflow run."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.lineage import configure_mlflow

    configure_mlflow(settings.tracking_uri)
    try:
        mv = MlflowClient().get_model_version_by_alias(settings.model_name, "champion")
    except MlflowException:
        raise FileNotFoundError(
            f"model {settings.model_name!r} has no champion, so there is no reference to "
            "compare with; run the training flow first"
        ) from None
    path = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="reference/reference.parquet")
    return pd.read_parquet(path), mv.tags.get("relay.data_version", "unknown"), str(mv.version)


@task(name="drift-report", tags=prefect_tags("monitor"))
def drift_report(settings: Settings, reference: Any, reference_version: str, model_version: str) -> dict[str, Any]:
    from pipelines.monitoring import drift
    from pipelines.prediction_log import read_window

    p = settings.params.monitor
    # Only traffic the champion scored: its reference holds its own predictions, so mixing in rows scored by
    # an earlier model would read as prediction drift.
    since = datetime.now(UTC) - timedelta(hours=p.window_hours) if p.window_hours else None
    window = read_window(
        settings.prediction_log, settings.contract, p.window_rows, model_version=model_version, since=since
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return drift.run(
        window,
        reference,
        settings.reports_dir / "monitoring" / stamp,
        settings.contract,
        drift_share=p.drift_share,
        min_rows=p.min_rows,
        max_missing_increase=p.max_missing_increase,
        sample_rows=p.sample_rows,
        reference_version=reference_version,
        model_version=model_version,
    )


@task(name="record-history", tags=prefect_tags("monitor"))
def record_history(settings: Settings, decision: dict[str, Any]) -> str:
    from pipelines.monitoring import history

    return str(history.record(decision, settings.monitoring_store, settings.reports_dir / "monitoring"))


@flow(name="monitoring")
def monitoring_flow(settings: Settings | None = None) -> dict[str, Any]:
    s = settings or get_settings()
    prepare_environment(s)
    banner("monitor", f"Evidently drift report over the last {s.params.monitor.window_rows} logged predictions")
    with timed("monitor"):
        reference, ref_version, model_version = load_reference(s)
        decision = drift_report(s, reference, ref_version, model_version)
        decision["index"] = record_history(s, decision)
    colour = "red" if decision["drift"] else "green"
    note(
        f"[{colour}]drift={decision['drift']}[/] share of drifted columns {decision['drift_share']:.2f} "
        f"(threshold {decision['drift_share_threshold']}); drifted: {', '.join(decision['drifted_features']) or '-'}"
    )
    quality = decision["data_quality"]
    if quality["problems"]:
        note(f"[yellow]data quality[/]: {'; '.join(quality['problems'])}")
    note(f"report: {decision['report']}; every run: {decision['index']}")
    return decision

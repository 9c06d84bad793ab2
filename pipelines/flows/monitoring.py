"""Monitoring flow (MLOps engineer): prediction-log window + champion reference → drift decision, the champion's
quality on labels that arrived since it was trained, a row in the history, and retraining when called for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task

from pipelines.core import artifacts
from pipelines.core.handoffs import ModelQuality, MonitorDecision
from pipelines.core.ownership import prefect_tags
from pipelines.core.settings import Settings, get_settings
from pipelines.flows.common import RETRY_TRANSIENT, banner, note, prepare_environment, timed

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Champion:
    """The serving model as the monitor needs it, found through the registry and its MLflow run."""

    reference: pd.DataFrame  # its reference sample, with its own predictions
    model: Any  # the sklearn pipeline, for scoring the newly labelled batches
    data_version: str
    version: str
    threshold: float | None  # a binary model's
    holdout: dict[str, float]  # its metrics on its own holdout, as the gate recorded them


@task(name="load-reference", tags=prefect_tags("monitor"), **RETRY_TRANSIENT)
def load_reference(settings: Settings) -> Champion:
    """The champion as the monitor needs it: its reference sample (found through the registry and its MLflow
    run), data version, version number, decision threshold and its metrics on its own holdout."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(settings.tracking_uri)
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(settings.model_name, "champion")
    except MlflowException:
        raise FileNotFoundError(
            f"model {settings.model_name!r} has no champion, so there is no reference to "
            "compare with; run the training flow first"
        ) from None
    reference = f"{artifacts.REFERENCE_DIR}/{artifacts.REFERENCE_FILE}"
    path = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=reference)
    # The gate wrote the champion's holdout scores on the version; older versions only have the run's metrics.
    holdout = client.get_run(str(mv.run_id)).data.metrics
    holdout |= {k.removeprefix("metric."): float(v) for k, v in mv.tags.items() if k.startswith("metric.")}
    import mlflow.sklearn

    return Champion(
        reference=pd.read_parquet(path),
        # Loaded here, under this task's retries.
        model=mlflow.sklearn.load_model(f"models:/{settings.model_name}/{mv.version}"),
        data_version=mv.tags.get("relay.data_version", "unknown"),
        version=str(mv.version),
        threshold=float(mv.tags["relay.threshold"]) if "relay.threshold" in mv.tags else None,
        holdout=holdout,
    )


@task(name="drift-report", tags=prefect_tags("monitor"))
def drift_report(settings: Settings, champion: Champion, out_dir: Path) -> MonitorDecision:
    from pipelines.core.prediction_log import read_window
    from pipelines.monitoring import drift

    p = settings.params.monitor
    # Only traffic the champion scored: its reference holds its own predictions, so mixing in rows scored by
    # an earlier model would read as prediction drift.
    since = datetime.now(UTC) - timedelta(hours=p.window_hours) if p.window_hours else None
    window = read_window(
        settings.prediction_log, settings.contract, p.window_rows, model_version=champion.version, since=since
    )
    inputs = drift.DriftInputs(
        window=window,
        reference=champion.reference,
        contract=settings.contract,
        params=p,
        reference_version=champion.data_version,
        model_version=champion.version,
    )
    return drift.run(inputs, out_dir)


@task(name="model-quality", tags=prefect_tags("monitor"))
def model_quality(settings: Settings, champion: Champion, out_dir: Path) -> ModelQuality:
    """The champion scored on the batches labelled since its training data, judged by Evidently.

    A problem here (a damaged batch, labels that break the contract) is reported in the verdict, with status
    "error", rather than raised: the drift decision beside it must still be recorded.
    """
    from pipelines.monitoring import labels, quality

    s, p = settings, settings.params.monitor
    try:
        known, source = labels.champion_batches(s.versions_catalog, champion.data_version, s.dataset_dir)
        new = labels.new_labels(s.raw_dir, known, source)
        frame = labels.read_labelled(s.raw_dir, new, s.contract, p.sample_rows)
        frame = quality.with_answers(frame, champion.model, s.contract)
        metric = quality.judged_metric(s.contract.task, s.params.promote.metric)
        baseline = champion.holdout.get(metric, float("nan"))
        judged = quality.run(
            frame, out_dir, s.contract, p, metric=metric, baseline=baseline, threshold=champion.threshold
        )
    except Exception as exc:
        message = f"model quality could not be judged: {type(exc).__name__}: {exc}"
        return ModelQuality(status="error", ok=None, message=message)
    return judged.model_copy(update={"batches": new.batches, "labels": new.describe()})


@task(name="record-history", tags=prefect_tags("monitor"))
def record_history(settings: Settings, decision: MonitorDecision) -> MonitorDecision:
    """The run's row in the history, the rebuilt index page, and the whole decision in `decision.json`."""
    from pipelines.monitoring import history

    recorded = history.record(decision, settings.monitoring_store, settings.reports_dir / "monitoring")
    # drift.run wrote decision.json before the quality check; it must hold the whole decision, and the row id
    # by which retraining notes what it did.
    decision = decision.model_copy(update={"index": str(recorded.page), "history_id": recorded.run_id})
    decision.write(decision.path)
    return decision


# part:evidently-ui:begin
@task(name="evidently-workspace", tags=prefect_tags("monitor"))
def to_workspace(settings: Settings, decision: MonitorDecision) -> str | None:
    """The run in the model's Evidently project, for `relay monitor ui`. A workspace that cannot take it (a UI
    service that is down, say) is reported, not raised: the decision is recorded already, and the run's
    snapshot files stay beside its reports."""
    from pipelines.monitoring import dashboard

    try:
        return dashboard.publish(decision, dashboard.Target.from_settings(settings))
    except Exception as exc:
        note(f"[yellow]evidently workspace[/]: the run was not added ({type(exc).__name__}: {exc})")
        return None


# part:evidently-ui:end
def _run_folder(reports_dir: Path) -> Path:
    """A new folder per run, named by its time; a second run in the same second gets a suffix, not the first's."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(100):
        folder = reports_dir / "monitoring" / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"100 monitoring runs in one second under {reports_dir / 'monitoring'}")


@flow(name="monitoring")
def monitoring_flow(retrain: bool | None = None, settings: Settings | None = None) -> MonitorDecision:
    """Judge the newest traffic and labels against the champion; start retraining when the decision calls for it
    (`retrain`, default `retrain.automatic` in params.yaml)."""
    s = settings or get_settings()
    prepare_environment(s)
    banner("monitor", f"Evidently drift report over the last {s.params.monitor.window_rows} logged predictions")
    with timed("monitor"):
        champion = load_reference(s)
        out_dir = _run_folder(s.reports_dir)
        decision = drift_report(s, champion, out_dir)
        decision = decision.model_copy(update={"model_quality": model_quality(s, champion, out_dir)})
        decision = record_history(s, decision)
        to_workspace(s, decision)  # part:evidently-ui
    colour = "red" if decision.drift else "green"
    note(
        f"[{colour}]drift={decision.drift}[/] share of drifted columns {decision.drift_share:.2f} "
        f"(threshold {decision.drift_share_threshold}); drifted: {', '.join(decision.drifted_features) or '-'}"
    )
    if decision.data_quality.problems:
        note(f"[yellow]data quality[/]: {'; '.join(decision.data_quality.problems)}")
    if decision.model_quality is not None:
        red = decision.model_quality.dropped
        note(("[red]" if red else "") + f"model quality: {decision.model_quality.message}" + ("[/]" if red else ""))
    note(f"report: {decision.report}; every run: {decision.index}")
    if retrain if retrain is not None else s.params.retrain.automatic:
        from pipelines.flows.retraining import RetrainingError, retraining_flow

        try:
            done = retraining_flow(decision=decision, settings=s)
        except RetrainingError as exc:
            # Recorded, and the retraining run is Failed in Prefect; the monitor's own work did succeed.
            done = exc.result
        decision = decision.model_copy(update={"retraining": done})
    return decision

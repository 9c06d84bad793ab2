"""Retraining flow (MLOps engineer): a monitor decision → the training flow on the newest data → the gate.

The monitoring flow calls it when its decision shows drift or a quality drop (`retrain.automatic`), and
`relay retrain` runs it on the newest recorded decision. It counts the labelled rows the champion has not
seen, asks the retrain stage whether that is enough, and if so runs the training flow with trigger `drift`
and the decision's findings as the reason (both tagged on the MLflow run). The ML engineer's gate then
promotes the challenger only if it beats the champion. A failed training run leaves the champion serving;
what happened, success or failure, is written next to the decision in the monitoring history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, task

from pipelines.flows.common import RETRY_TRANSIENT, banner, note, prepare_environment, timed
from pipelines.flows.training import training_flow
from pipelines.ownership import prefect_tags
from pipelines.settings import Settings, get_settings


def newest_decision(settings: Settings) -> dict[str, Any]:
    """The decision of the newest monitoring run, read back from its `decision.json`."""
    from pipelines.monitoring import history

    runs = history.read(settings.monitoring_store)
    if runs.empty:
        raise FileNotFoundError("the monitoring history is empty: run `relay monitor` first")
    path = Path(str(runs.iloc[0]["report"])).with_name("decision.json")
    if not path.is_file():
        raise FileNotFoundError(f"the newest monitoring run's decision {path} is gone; run `relay monitor` again")
    return dict(json.loads(path.read_text()))


@task(name="count-new-labels", tags=prefect_tags("retrain"))
def count_new_labels(settings: Settings, data_version: str) -> dict[str, Any]:
    from pipelines.monitoring import labels

    known, source = labels.champion_batches(settings.versions_catalog, data_version, settings.dataset_dir)
    new = labels.new_labels(settings.raw_dir, known, source)
    return {"batches": new.batches, "rows": new.rows, "described": new.describe()}


@task(name="retrain-decision", tags=prefect_tags("retrain"))
def retrain_decision(settings: Settings, decision: dict[str, Any], new_rows: int) -> dict[str, Any]:
    from pipelines.monitoring import retrain

    return retrain.run(decision, new_rows, settings.params.retrain).__dict__


@task(name="record-retraining", tags=prefect_tags("retrain"))
def record_outcome(settings: Settings, decision: dict[str, Any], outcome: str) -> str:
    from pipelines.monitoring import history

    return str(
        history.note_retraining(decision, outcome, settings.monitoring_store, settings.reports_dir / "monitoring")
    )


@task(name="current-champion", tags=prefect_tags("retrain"), **RETRY_TRANSIENT)
def current_champion(settings: Settings) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.lineage import configure_mlflow

    configure_mlflow(settings.tracking_uri, probe=True)
    try:
        return str(MlflowClient().get_model_version_by_alias(settings.model_name, "champion").version)
    except MlflowException:
        return None


def _outcome(trained: dict[str, Any]) -> str:
    champion = trained.get("champion_version")
    if trained["promoted"] and trained["reason"] == "already champion":
        return f"no new model: the newest data trains the same model as champion v{trained['version']}"
    if trained["promoted"]:
        return f"v{trained['version']} trained on data {trained['data_version'][:10]} and promoted: {trained['reason']}"
    return f"challenger v{trained['version']} kept, champion v{champion} keeps serving: {trained['reason']}"


def _train(settings: Settings, decision: dict[str, Any], request: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Run the training flow for `request`; returns its result (None if it did not run) and what happened."""
    judged = str(decision["model_version"])
    champion = current_champion(settings)
    if champion != judged:
        # A decision about a model that no longer serves says nothing about the one that does.
        return None, (
            f"not retrained: the decision judged v{judged}, but the champion is now "
            f"{'v' + champion if champion else 'gone'}; the next monitoring run judges it"
        )
    trained = training_flow(trigger=request["trigger"], reason=request["reason"], settings=settings)
    return trained, _outcome(trained)


@flow(name="retraining")
def retraining_flow(decision: dict[str, Any] | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Act on a monitor decision (default: the newest recorded one); returns what was done and why."""
    s = settings or get_settings()
    prepare_environment(s)
    decision = decision or newest_decision(s)
    with timed("retrain"):
        labels = count_new_labels(s, str(decision["reference_version"]))
        request = retrain_decision(s, decision, labels["rows"])
    banner("retrain", ("[bold]retraining[/]: " if request["retrain"] else "no retraining: ") + request["reason"])
    result: dict[str, Any] = {**request, "labels": labels, "training": None, "failed": False}
    if not request["retrain"]:
        result["outcome"] = f"not retrained: {request['reason']}"
    else:
        try:
            result["training"], result["outcome"] = _train(s, decision, request)
        except Exception as exc:
            # Promotion is the training flow's last step, so a run that failed anywhere left the champion alias
            # where it was: the champion keeps serving.
            result["failed"] = True
            result["outcome"] = f"retraining failed ({type(exc).__name__}: {exc}); the champion was not changed"
    with timed("retrain"):
        record_outcome(s, decision, result["outcome"])
    if request["retrain"]:  # otherwise the banner above already said it
        note(f"[red]outcome: {result['outcome']}[/]" if result["failed"] else f"outcome: {result['outcome']}")
    return result

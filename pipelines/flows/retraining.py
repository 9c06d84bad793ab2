"""Retraining flow (MLOps engineer): a monitor decision → the training flow on the newest data → the gate.

The monitoring flow calls it when its decision shows drift or a quality drop (`retrain.automatic`), and
`relay retrain` runs it on the newest recorded decision. It counts the labelled rows the champion has not
seen and asks the retrain stage whether that is enough; it does not act on a decision about a model that no
longer serves, nor train again on labels a kept-aside challenger was already trained on. Otherwise it runs
the training flow with trigger `drift` and the decision's findings as the reason (both tagged on the MLflow
run), and the ML engineer's gate promotes the challenger only if it beats the champion. A failed training
run leaves the champion serving. What happened is written next to the decision in the monitoring history
and its `decision.json`; a failure also ends this flow's run as Failed, so Prefect shows it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, task

from pipelines.core.handoffs import DECISION_FILE, MonitorDecision, NewLabelsSeen, Retraining, TrainingOutcome
from pipelines.core.ownership import prefect_tags
from pipelines.core.settings import Settings, get_settings
from pipelines.flows.common import RETRY_TRANSIENT, banner, note, prepare_environment, timed
from pipelines.flows.training import training_flow


class RetrainingError(RuntimeError):
    """The training flow failed; `result` holds what was recorded (the champion was not changed)."""

    def __init__(self, result: Retraining) -> None:
        super().__init__(result.outcome)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:  # Prefect may pickle a flow's exception with its state
        return (RetrainingError, (self.result,))


def newest_decision(settings: Settings) -> MonitorDecision:
    """The decision of the newest monitoring run, read back from its `decision.json`."""
    from pipelines.monitoring import history

    runs = history.read(settings.monitoring_store)
    if runs.empty:
        raise FileNotFoundError("the monitoring history is empty: run `relay monitor` first")
    path = Path(str(runs.iloc[0]["report"])).with_name(DECISION_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"the newest monitoring run's decision {path} is gone; run `relay monitor` again")
    return MonitorDecision.read(path).model_copy(update={"history_id": int(runs.iloc[0]["id"])})


def current_champion(settings: Settings) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(settings.tracking_uri, create=True, probe=True)
    try:
        return str(MlflowClient().get_model_version_by_alias(settings.model_name, "champion").version)
    except MlflowException:
        return None


def _kept_aside_on(settings: Settings, batches: set[str]) -> tuple[str, str] | None:
    """A version that was trained on every landed batch and failed the gate: (version, data version)."""
    from mlflow import MlflowClient

    from pipelines.monitoring import labels

    for mv in MlflowClient().search_model_versions(f"name = '{settings.model_name}'"):
        if mv.tags.get("relay.gate") != "failed":
            continue
        trained_on = labels.batches_of(settings.versions_catalog, mv.tags.get("relay.data_version", ""))
        if trained_on is not None and batches <= trained_on:
            return str(mv.version), mv.tags["relay.data_version"]
    return None


def _held_back(settings: Settings, judged: str) -> str | None:
    """Why not to retrain after all, although the new labels would justify it (None: nothing against it)."""
    from pipelines.monitoring import labels

    champion = current_champion(settings)
    if champion != judged:
        # A decision about a model that no longer serves says nothing about the one that does.
        now = f"v{champion}" if champion else "gone"
        return f"the decision judged v{judged}, but the champion is now {now}; the next monitoring run judges it"
    tried = _kept_aside_on(settings, labels.landed_batches(settings.raw_dir))
    if tried is None:
        return None
    return (
        f"challenger v{tried[0]} was already trained on every landed batch (data {tried[1][:10]}) and did "
        "not pass the gate; waiting for new labels"
    )


def plan(settings: Settings, decision: MonitorDecision) -> Retraining:
    """What retraining would do about `decision` now, and why; the flow and `relay retrain --dry-run` share it."""
    from pipelines.monitoring import labels, retrain

    known, source = labels.champion_batches(settings.versions_catalog, decision.reference_version, settings.dataset_dir)
    new = labels.new_labels(settings.raw_dir, known, source)
    request = retrain.run(decision, new.rows, settings.params.retrain)
    held_back = _held_back(settings, decision.model_version) if request.retrain else None
    go, reason = request.retrain and held_back is None, held_back or request.reason
    return Retraining(
        retrain=go,
        reason=reason,
        trigger=request.trigger,
        labels=NewLabelsSeen(batches=new.batches, rows=new.rows),
        outcome=None if go else f"not retrained: {reason}",
    )


@task(name="plan-retraining", tags=prefect_tags("retrain"), **RETRY_TRANSIENT)
def plan_retraining(settings: Settings, decision: MonitorDecision) -> Retraining:
    return plan(settings, decision)


@task(name="record-retraining", tags=prefect_tags("retrain"))
def record_outcome(settings: Settings, decision: MonitorDecision, result: Retraining) -> None:
    from pipelines.monitoring import history

    if decision.history_id is not None:
        history.note_retraining(
            decision.history_id, result.outcome or "", settings.monitoring_store, settings.reports_dir / "monitoring"
        )
    if decision.path.is_file():  # the exporter reads what retraining did from here
        MonitorDecision.read(decision.path).model_copy(update={"retraining": result}).write(decision.path)


@contextmanager
def _workspace_lock(settings: Settings) -> Iterator[bool]:
    """One retraining at a time per workspace, whoever starts it (a schedule, `relay retrain`, `relay monitor`):
    two would fight over DVC's lock and the outputs. Yields False when another one holds it."""
    path = settings.local_dir / "retraining.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True  # closing the file releases the lock


def _outcome(trained: TrainingOutcome) -> str:
    if trained.promoted and trained.reason == "already champion":
        return f"no new model: the newest data trains the same model as champion v{trained.version}"
    if trained.promoted:
        return f"v{trained.version} trained on data {trained.data_version[:10]} and promoted: {trained.reason}"
    return f"challenger v{trained.version} kept, champion v{trained.champion_version} keeps serving: {trained.reason}"


@flow(name="retraining")
def retraining_flow(decision: MonitorDecision | None = None, settings: Settings | None = None) -> Retraining:
    """Act on a monitor decision (default: the newest recorded one); returns what was done and why.

    Raises `RetrainingError` after recording the failure, so the run is Failed in Prefect.
    """
    s = settings or get_settings()
    prepare_environment(s)
    decision = decision or newest_decision(s)
    result = Retraining(retrain=False, reason="")
    try:
        with timed("retrain"), _workspace_lock(s) as mine:
            if not mine:
                reason = f"another retraining is running in this workspace ({s.local_dir / 'retraining.lock'})"
                result = Retraining(retrain=False, reason=reason, outcome=f"not retrained: {reason}")
            else:
                result = plan_retraining(s, decision)
                banner("retrain", ("[bold]retraining[/]: " if result.retrain else "no retraining: ") + result.reason)
                if result.retrain:
                    trained = training_flow(trigger=result.trigger, reason=result.reason, settings=s)
                    result = result.model_copy(update={"training": trained, "outcome": _outcome(trained)})
                    note(f"outcome: {result.outcome}")
    except Exception as exc:
        # Promotion is the training flow's last step, so a run that failed anywhere left the champion alias
        # where it was: the champion keeps serving.
        outcome = f"retraining failed ({type(exc).__name__}: {exc}); the champion was not changed"
        result = result.model_copy(update={"failed": True, "outcome": outcome})
        note(f"[red]{outcome}[/]")
    record_outcome(s, decision, result)
    if result.failed:
        raise RetrainingError(result)
    return result

"""Training flow (orchestration: MLOps engineer): DVC stages → push → MLflow tracking → promotion gate.

Each DVC stage runs as its own Prefect task through DVC's Python API, tagged with the stage's owner, so
the Prefect UI shows who owns each step; DVC skips any stage whose inputs have not changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow, task

from pipelines.core.handoffs import PromotionDecision, TrainingOutcome
from pipelines.core.ownership import prefect_tags
from pipelines.core.params import TASK_METRICS
from pipelines.core.settings import Settings, get_settings
from pipelines.flows.common import RETRY_TRANSIENT, banner, import_in_background, note, prepare_environment, timed

if TYPE_CHECKING:
    from pipelines.training.track import TrackResult

DVC_STAGES = ("validate", "version", "train", "evaluate")


@task(name="dvc-stage")
def run_dvc_stage(root: str, name: str) -> bool:
    """`dvc repro <name>` for one stage; returns True if DVC ran it, False if it was up to date."""
    import logging

    from dvc.repo import Repo

    # The banner already says what runs; DVC's own INFO lines (git hints, lock updates) are noise here.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    with Repo(root) as repo:
        try:
            ran = repo.reproduce(name, single_item=True)
        except Exception:
            # DVC deletes a stage's outputs before running it. dvc.lock still describes the last good run,
            # so check those outputs back out of the cache: a failed run loses nothing already stored.
            repo.checkout(force=True)
            raise
    return bool(ran)


@task(name="dvc-push", tags=prefect_tags("version"), **RETRY_TRANSIENT)
def push_data(root: str, remote_url: str) -> int:
    from pipelines.data.version import push

    return push(Path(root), remote_url)


@task(name="track", tags=prefect_tags("track"))
def track_run(settings: Settings, trigger: str, reason: str = "") -> TrackResult:
    from pipelines.core.lineage import git_commit
    from pipelines.data.version import data_version, stage_out_md5
    from pipelines.training import track

    p = settings.params
    result = track.run(
        track.TrackInputs(
            store=track.MlflowTarget(
                tracking_uri=settings.tracking_uri,
                artifact_location=settings.artifact_location,
                experiment=settings.experiment_name,
            ),
            lineage=track.RunLineage(
                data_version=data_version(settings.root),
                model_md5=stage_out_md5(settings.root, "train", "models"),
                git_commit=git_commit(settings.root),
                trigger=trigger,
                trigger_reason=reason,
            ),
            model_dir=settings.model_dir,
            metrics_dir=settings.metrics_dir,
            plots_dir=settings.plots_dir,
            dataset_dir=settings.dataset_dir,
            params={
                "train": p.train.model_dump(),
                "evaluate": p.evaluate.model_dump(),
                "version": p.version.model_dump(),
            },
            reference_rows=p.version.reference_rows,
            contract=settings.contract,
        )
    )
    return result


@task(name="register", tags=prefect_tags("register"), **RETRY_TRANSIENT)
def register_model(
    settings: Settings, run_id: str, model_uri: str, flow_name: str, *, compare: bool = True
) -> PromotionDecision:
    from pipelines.data.version import data_version
    from pipelines.release import register

    return register.run(
        register.RegisterInputs(
            registry=register.Registry(tracking_uri=settings.tracking_uri, model_name=settings.model_name),
            candidate=register.Candidate(run_id=run_id, model_uri=model_uri),
            holdout=register.Holdout(
                dataset_dir=settings.dataset_dir, version=data_version(settings.root), contract=settings.contract
            ),
            gate=settings.params.promote,
            costs=settings.params.evaluate,
            promoted_by=f"ml-engineer gate in flow {flow_name}",
            compare=compare,
        )
    )


@task(name="notify-services", tags=prefect_tags("register"))
def tell_services(settings: Settings) -> list[str]:
    """Ask the running services to load the new champion now, instead of at their next poll."""
    from pipelines.release.notify import notify_services

    key = settings.api_key.get_secret_value() if settings.api_key else None
    return [n.describe() for n in notify_services(settings.service_urls, api_key=key)]


@flow(name="training")
def training_flow(
    trigger: str = "manual", reason: str = "", settings: Settings | None = None, *, compare: bool = True
) -> TrainingOutcome:
    """Build the newest data version, train and evaluate it, track the run and send the model through the gate.

    `trigger` says why it runs (tagged `relay.trigger`), `reason` says it in words (`relay.trigger_reason`);
    `compare=False` judges the candidate on the gate's floors alone, not against the champion.
    """
    s = settings or get_settings()
    prepare_environment(s)
    from pipelines.core.lineage import check_trigger, configure_mlflow

    check_trigger(trigger)
    # Refuse before any stage runs: a model that cannot be recorded must not be trained or registered.
    configure_mlflow(s.tracking_uri, create=True, probe=True)
    tracking_needs = import_in_background("skops.io")  # while DVC's stages run in their own processes
    root = str(s.root)
    for name in DVC_STAGES:
        banner(name, f"dvc repro {name}")
        with timed(name):
            ran = run_dvc_stage.with_options(name=f"dvc-{name}", tags=prefect_tags(name))(root, name)
        if not ran:
            note("inputs unchanged since dvc.lock: skipped")
    from pipelines.core.dataset import read_manifest
    from pipelines.data import catalog
    from pipelines.data.version import data_version

    version = data_version(s.root)
    catalog.record(s.root, s.dataset_dir, s.versions_catalog)
    m = read_manifest(s.dataset_dir)
    banner("version", f"data version {version[:10]} ({m.rows} rows, batches {', '.join(m.batches)})")
    with timed("version"):
        pushed = push_data(root, s.dvc_remote)
    note(f"dvc push: {pushed} file(s) sent to the DVC remote")
    banner("track", "MLflow run with params, metrics, model, dataset and lineage tags")
    tracking_needs.result()  # an import that failed fails here, as it would in the step
    with timed("track"):
        tracked = track_run(s, trigger, reason)
    note(
        ("reused" if tracked.reused else "created")
        + f" run {tracked.run_id}; "
        + ", ".join(f"{k}={tracked.metrics[k]:.4f}" for k in TASK_METRICS[s.contract.task][:4])
    )
    banner("register", "register the candidate and run the promotion gate")
    with timed("register"):
        decision = register_model(s, tracked.run_id, tracked.model_uri, "training", compare=compare)
    verdict = "[green]promoted to champion[/]" if decision.promoted else "[yellow]kept as challenger[/]"
    note(f"version {decision.version}: {verdict}: {decision.reason}")
    notified = []
    if decision.promoted and s.service_urls:
        notified = tell_services(s)
        for line in notified:
            note(line)
    return TrainingOutcome(
        **decision.model_dump(), run_id=tracked.run_id, data_version=version, trigger=trigger, notified=notified
    )

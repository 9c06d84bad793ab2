"""Sweep flow (orchestration: MLOps engineer; the trials are the data scientist's `sweep` stage).

Maps `sweep.run_trial` over Prefect workers: a local process pool by default (trials are CPU-bound, and
threads would share one interpreter), threads for quick runs, or a Dask or Ray cluster through
`prefect-dask` or `prefect-ray`. The flow code is the same for all four; only the task runner changes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import flow, task, unmapped
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from pipelines.core.ownership import prefect_tags, tags_for
from pipelines.core.settings import Settings, get_settings
from pipelines.flows.common import banner, note, prepare_environment
from pipelines.training import sweep
from pipelines.training.sweep import TrialContext


@task(name="sweep-trial", tags=prefect_tags("sweep"))
def trial_task(index: int, params: dict[str, Any], ctx: TrialContext) -> dict[str, Any]:
    from pipelines.core.params import TrainParams

    return sweep.run_trial(index, TrainParams(**params), ctx)


def warm_worker() -> None:
    """Import the heavy libraries once per worker process, before its first trial: workers then start
    trials together instead of one importing while the other already trains, and `trial_seconds`
    measures the trial rather than the imports."""
    import mlflow  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import pipelines.training.train  # noqa: F401


def task_runner(kind: str, parallel: int, address: str = "") -> TaskRunner[Any]:
    """Prefect's task runner for `kind`. dask and ray come from prefect-dask and prefect-ray (`uv sync --extra
    cluster`): with `address`, trials go to that running cluster; without, one is started on this machine."""
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=parallel, initializer=warm_worker)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=parallel)
    try:
        if kind == "ray":
            if not address or address.startswith(("127.", "localhost")):
                # Ray takes the machine's network address for this process even when the cluster is on
                # 127.0.0.1 (or is started here for this sweep alone), and then waits forever for a raylet
                # there; this keeps it on the loopback (Ray reads it when imported).
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            from prefect_ray import RayTaskRunner

            if address:
                return RayTaskRunner(address=address)
            # A cluster of this sweep's own, with `parallel` CPUs so no more trials run at once than asked for.
            # "local", not Ray's default: that joins the cluster named in /tmp/ray/ray_current_cluster, which
            # any `ray start --head` on this machine leaves behind, still there after the cluster has stopped.
            return RayTaskRunner(address="local", init_kwargs={"num_cpus": parallel, "include_dashboard": False})
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise RuntimeError(
            f"sweep runner {kind!r} needs prefect-{kind}: `uv sync --extra cluster` (or use processes/threads)"
        ) from None
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": parallel, "threads_per_worker": 1})


@flow(name="sweep")
def sweep_flow(trials: list[dict[str, Any]], ctx: TrialContext) -> list[dict[str, Any]]:
    """Run every trial on the flow's task runner; failed trials are reported, not fatal."""
    with _share_temporary_server():
        futures = trial_task.map(list(range(len(trials))), trials, unmapped(ctx))
        for future in futures:
            future.wait()
    results = []
    for future in futures:
        if future.state.is_completed():
            results.append(future.result())
        else:
            note(f"[red]trial failed[/]: {future.state.message}")
    return results


@contextmanager
def _share_temporary_server() -> Iterator[None]:
    """Point the trials' workers at this flow's Prefect API.

    With no Prefect server configured, the flow runs against a temporary one, and a worker process (of the
    pool, or of a Dask or Ray cluster) would start a temporary server of its own (about 5 s each, a minute
    on a busy machine) before its first trial, and report there. Prefect sends the settings context with each
    task, so the URL set in it reaches every runner's workers; the process pool also copies this process's
    environment when the first task is submitted.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL"):
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def run_sweep(
    settings: Settings | None = None,
    *,
    trials: int | None = None,
    parallel: int | None = None,
    runner: str | None = None,
    address: str | None = None,
    apply: bool = False,
) -> dict[str, Any]:
    """Check the data, open the parent run, map the trials, mark the best; optionally adopt it."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from pipelines.core.lineage import configure_mlflow, git_commit
    from pipelines.data.version import data_version
    from pipelines.training.track import get_or_create_experiment
    from pipelines.training.train import read_checked_split, tuning_split

    s = settings or get_settings()
    prepare_environment(s)
    p = s.params
    # Trials are ranked by the gate's metric unless the sweep names its own.
    metric = p.sweep.metric or p.promote.metric
    chosen = {"trials": trials, "parallel": parallel, "runner": runner, "metric": metric}
    cfg = p.sweep.model_copy(update={k: v for k, v in chosen.items() if v is not None})
    configure_mlflow(s.tracking_uri, create=True, probe=True)
    banner("sweep", f"{cfg.trials} trial(s) + baseline, {cfg.parallel} at a time on {cfg.runner}")
    # Checked once here rather than in every worker: the trials read the same files.
    frame = read_checked_split(s.dataset_dir, "train", s.contract)
    tuning_split(frame, s.contract, p.train)
    configs = sweep.candidates(p.train, cfg)
    version = data_version(s.root)
    client = MlflowClient()
    experiment_id = get_or_create_experiment(s.experiment_name, s.artifact_location)
    parent = client.create_run(
        experiment_id,
        run_name=f"sweep-{version[:8]}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={
            **tags_for("sweep"),
            "relay.sweep": "parent",
            "relay.data_version": version,
            "relay.git_commit": git_commit(s.root),
            "relay.sweep.runner": cfg.runner,
        },
    )
    parent_id = parent.info.run_id
    _log_dataset(client, parent_id, frame, s, version)
    del frame
    client.log_batch(
        parent_id,
        params=[Param(f"space.{k}", str(v)) for k, v in cfg.space_for(p.train.model).items()]
        + [Param(k, str(getattr(cfg, k))) for k in ("trials", "parallel", "runner", "metric", "seed")],
    )
    ctx = TrialContext(
        dataset_dir=s.dataset_dir,
        contract=s.contract,
        costs=p.evaluate,
        tracking_uri=s.tracking_uri,
        experiment_id=experiment_id,
        parent_run_id=parent_id,
        data_version=version,
        threads=max(1, (os.cpu_count() or 1) // cfg.parallel),
    )
    started = time.perf_counter()
    try:
        cluster = address or {"dask": s.dask_address, "ray": s.ray_address}.get(cfg.runner, "")
        flow_ = sweep_flow.with_options(task_runner=task_runner(cfg.runner, cfg.parallel, cluster))
        results = flow_([c.model_dump() for c in configs], ctx)
        best = sweep.best_of(results, metric)
    except BaseException:
        client.set_terminated(parent_id, "FAILED")
        raise
    seconds = time.perf_counter() - started
    now = int(time.time() * 1000)
    client.set_tag(best["run_id"], "relay.sweep.best", "true")
    client.log_batch(
        parent_id,
        metrics=[Metric(f"best_{k}", float(v), now, 0) for k, v in best["metrics"].items()]
        + [Metric("trials_finished", float(len(results)), now, 0), Metric("sweep_seconds", seconds, now, 0)],
        tags=[RunTag("relay.sweep.best_run_id", best["run_id"])],
    )
    import pandas as pd

    table = pd.DataFrame(
        [{"trial": r["index"], "run_id": r["run_id"], **r["params"]["model"], **r["metrics"]} for r in results]
    ).sort_values("trial")
    client.log_table(parent_id, table, "sweep/trials.json")
    client.set_terminated(parent_id, "FINISHED")

    from pipelines.core.params import TrainParams

    adopt = sweep.changed(p.train, TrainParams(**best["params"]))
    if apply and adopt:
        sweep.apply_to_params(s.root / "params.yaml", adopt)
    return {
        "parent_run_id": parent_id,
        "experiment_id": experiment_id,
        "data_version": version,
        "metric": metric,
        "trials": sorted(results, key=lambda r: r["index"]),
        "failed": len(configs) - len(results),
        "best": best,
        "baseline": next((r for r in results if r["index"] == 0), None),
        "adopt": adopt,
        "applied": bool(apply and adopt),
        "seconds": round(seconds, 1),
    }


def _log_dataset(client: Any, run_id: str, frame: Any, s: Settings, version: str) -> None:
    """The train split as the parent run's dataset input, named and tagged as the training runs name it."""
    import warnings

    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hint about integer columns does not apply
        dataset = from_pandas(
            frame,
            source=str(s.dataset_dir / "train"),
            name=f"{s.contract.name}-train",
            targets=s.contract.target,
            digest=version[:8],
        )
        entity = dataset._to_mlflow_entity()
    tags = [InputTag("mlflow.data.context", "training"), InputTag("dvc_md5", version)]
    client.log_inputs(run_id, datasets=[DatasetInput(entity, tags=tags)])

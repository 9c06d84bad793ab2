"""Sweep (owner: data scientist): try hyperparameters, each trial a nested MLflow run, the best one marked.

Takes the versioned train split, `params.yaml` (`train` as the baseline, `sweep` for the search space)
and a parent MLflow run; hands over one child run per trial (params, validation metrics, fit time) and
the values to adopt, as `dvc exp run -S ...` or written into `params.yaml` with `--apply`.

Trials are judged on the validation slice of the train split (`train.tuning_split`), the same rows the
train stage tunes its threshold on, never on the holdout: the holdout stays an unbiased judge for the
promotion gate. `run_trial` is a plain function; `pipelines/flows/sweep.py` maps it over Prefect workers.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.core.contract import Contract
from pipelines.core.dataset import read_split
from pipelines.core.ownership import stage, tags_for
from pipelines.core.params import (
    LOWER_IS_BETTER,
    EvaluateParams,
    ParamsError,
    SweepParams,
    TrainParams,
    load_params,
)

TIMINGS = ("fit_seconds", "trial_seconds")


def candidates(base: TrainParams, sweep: SweepParams) -> list[TrainParams]:
    """The baseline (params.yaml's `train`) first, then up to `sweep.trials` grid points drawn with
    `sweep.seed`; the same params always give the same list."""
    space = sweep.space_for(base.model)
    keys = sorted(space)
    kind, model = type(base.model), base.model.model_dump()
    grid = [
        config
        for combo in itertools.product(*(space[k] for k in keys))
        if (
            config := base.model_copy(
                update={"model": kind.model_validate(model | dict(zip(keys, combo, strict=True)))}
            )
        )
        != base
    ]
    picked = grid if len(grid) <= sweep.trials else random.Random(sweep.seed).sample(grid, sweep.trials)
    return [base, *picked]


def changed(base: TrainParams, config: TrainParams) -> dict[str, Any]:
    """The train.model.* values where `config` differs from `base`."""
    b, c = base.model.model_dump(), config.model.model_dump()
    return {k: c[k] for k in c if c[k] != b.get(k)}


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its params; small and picklable for process and Dask workers."""

    dataset_dir: Path
    contract: Contract
    costs: EvaluateParams
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    data_version: str
    threads: int


@stage("sweep")
def run_trial(index: int, params: TrainParams, ctx: TrialContext) -> dict[str, Any]:
    """Fit one configuration on the tuning split and score it on the validation slice.

    Recorded as a child of the sweep's parent run while it runs, so the MLflow UI shows trials in flight
    and a crashed trial stays visible as FAILED with its error.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from threadpoolctl import threadpool_limits

    from pipelines.core.lineage import configure_mlflow
    from pipelines.training.train import fit_and_tune, tuning_split

    configure_mlflow(ctx.tracking_uri, create=True)
    client = MlflowClient()
    tags = {
        **tags_for("sweep"),
        "mlflow.parentRunId": ctx.parent_run_id,
        "relay.data_version": ctx.data_version,
        "relay.sweep.trial": str(index),
        "relay.sweep.baseline": str(index == 0).lower(),
        "relay.sweep.worker_pid": str(os.getpid()),
    }
    run = client.create_run(ctx.experiment_id, run_name=f"trial-{index:02d}", tags=tags)
    run_id = run.info.run_id
    try:
        logged = {"seed": params.seed, **{f"model.{k}": v for k, v in params.model.model_dump().items()}}
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in logged.items()])
        started = time.perf_counter()
        # Trials share the machine: each gets its slice of the cores instead of all of them fighting.
        with threadpool_limits(limits=ctx.threads):
            frame = read_split(ctx.dataset_dir, "train")
            fit_part, val_part = tuning_split(frame, ctx.contract, params)
            fitted = fit_and_tune(fit_part, val_part, ctx.contract, params, ctx.costs)
        seconds = time.perf_counter() - started
        # The task's validation metrics (and a binary model's threshold), whatever the task.
        metrics = {k: float(v) for k, v in fitted.validation.items() if k != "rows"}
        metrics |= {
            "fit_seconds": round(fitted.fit_seconds, 3),
            "trial_seconds": round(seconds, 3),
        }
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k if k in TIMINGS else f"validation_{k}", v, now, 0) for k, v in metrics.items()],
        )
        client.set_terminated(run_id, "FINISHED")
    except BaseException as exc:
        client.log_batch(run_id, tags=[RunTag("relay.error", f"{type(exc).__name__}: {exc}"[:4000])])
        client.set_terminated(run_id, "FAILED")
        raise
    return {"index": index, "run_id": run_id, "params": params.model_dump(), "metrics": metrics}


def best_of(results: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    if not results:
        raise RuntimeError("every sweep trial failed; see the FAILED child runs in MLflow for their errors")
    sign = 1 if metric in LOWER_IS_BETTER else -1
    # Ties go to the earlier trial, so the baseline wins unless something is strictly better.
    return min(results, key=lambda r: (sign * r["metrics"][metric], r["index"]))


def apply_to_params(params_path: Path, values: dict[str, Any]) -> None:
    """Write `values` into `train.model` of params.yaml, keeping its comments and layout.

    The edited file is checked with the same rules as any params.yaml before it replaces the old one.
    """
    import io

    from ruamel.yaml import YAML

    from pipelines.core.atomic import atomic_path

    yaml = YAML()  # round-trip mode: comments, order and quoting survive (DVC edits params.yaml the same way)
    data = yaml.load(params_path.read_text())
    for key, value in values.items():
        data["train"]["model"][key] = value
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    with atomic_path(params_path) as tmp:
        tmp.write_text(buffer.getvalue())
        try:
            load_params(tmp)
        except ParamsError as exc:
            raise ParamsError(f"not applied; the result would be invalid: {exc}") from None

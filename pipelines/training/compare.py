"""Compare experiments (owner: data scientist): the best runs side by side, each with its data version.

Reads MLflow only. Training runs (the `track` stage) are ranked by a holdout metric; sweep trials by the
validation metric they were chosen on. Each run carries its DVC data version, so any row can be rebuilt:
`relay data checkout <version>` restores the data, the git commit the code, the params the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.core.ownership import tags_for
from pipelines.core.params import LOWER_IS_BETTER

# The params shown are the model's, whatever its kind: training runs log them as train.model.*, sweep trials
# as model.*; the columns come from the runs, not from a list here.
PARAM_PREFIX = {"training": "train.model.", "sweep": "model."}


@dataclass
class RunRow:
    run_id: str
    name: str
    started: str
    data_version: str
    trigger: str
    params: dict[str, str]
    metrics: dict[str, float]
    registered: str = ""
    marks: list[str] = field(default_factory=list)


def _order(metric: str) -> str:
    lower = metric.removeprefix("validation_") in LOWER_IS_BETTER
    return f"metrics.{metric} {'ASC' if lower else 'DESC'}"


def _started(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def compare(
    experiment: str,
    model_name: str,
    *,
    kind: Literal["training", "sweep"] = "training",
    metric: str = "roc_auc",
    top: int = 5,
) -> tuple[list[RunRow], str]:
    """The `top` runs by `metric`, best first, and a line saying what was compared."""
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise FileNotFoundError(f"no MLflow experiment {experiment!r}: run `relay pipeline` first")
    if kind == "training":
        stage = tags_for("track")["relay.stage"]
        runs = client.search_runs(
            [exp.experiment_id],
            f"tags.`relay.stage` = '{stage}' and attributes.status = 'FINISHED'",
            order_by=[_order(metric)],
            max_results=top,
        )
        what = f"training runs in {experiment!r} by holdout {metric}"
    else:
        parents = client.search_runs(
            [exp.experiment_id],
            "tags.`relay.sweep` = 'parent' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not parents:
            raise FileNotFoundError(f"no finished sweep in {experiment!r}: run `relay train sweep` first")
        parent = parents[0]
        metric = metric if metric.startswith("validation_") else f"validation_{metric}"
        runs = client.search_runs(
            [exp.experiment_id],
            f"tags.`mlflow.parentRunId` = '{parent.info.run_id}' and attributes.status = 'FINISHED'",
            order_by=[_order(metric)],
            max_results=top,
        )
        what = f"trials of sweep {parent.info.run_name} by {metric} (validation slice, not the holdout)"
    if not runs:
        raise FileNotFoundError(f"no finished runs to compare in {experiment!r}")
    versions: dict[str, str] = {}
    if kind == "training":
        aliases: dict[str, list[str]] = {}
        try:
            for alias, v in (client.get_registered_model(model_name).aliases or {}).items():
                aliases.setdefault(str(v), []).append(alias)
            for mv in client.search_model_versions(f"name = '{model_name}'"):
                mark = aliases.get(str(mv.version))
                label = f"v{mv.version}" + (f" @{', @'.join(mark)}" if mark else "")
                versions[str(mv.run_id)] = label
        except Exception:
            pass
    rows = []
    for r in runs:
        t = r.data.tags
        marks = []
        if t.get("relay.sweep.best") == "true":
            marks.append("best")
        if t.get("relay.sweep.baseline") == "true":
            marks.append("baseline (params.yaml)")
        rows.append(
            RunRow(
                run_id=r.info.run_id,
                name=r.info.run_name or r.info.run_id[:8],
                started=_started(r.info.start_time),
                data_version=t.get("relay.data_version", ""),
                trigger=t.get("relay.trigger", ""),
                params={
                    k.removeprefix(PARAM_PREFIX[kind]): v
                    for k, v in sorted(r.data.params.items())
                    if k.startswith(PARAM_PREFIX[kind]) or k == "threshold"
                },
                metrics=dict(r.data.metrics),
                registered=versions.get(r.info.run_id, ""),
                marks=marks,
            )
        )
    return rows, what


def as_dicts(rows: list[RunRow]) -> list[dict[str, Any]]:
    return [row.__dict__ for row in rows]

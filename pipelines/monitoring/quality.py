"""Monitor, model quality (owner: MLOps engineer): judge the champion on the labels that arrived after it served.

Drift only says the inputs moved; once delayed labels come in, this says whether the model actually got worse.
Takes the rows labelled since the champion was trained (the batches `labels.py` finds) with the contract's
target (a missing value means not labelled yet) and the champion's answer for them (binary: the probability of
the positive label in `prediction`; multiclass: one probability column per class, named by the class;
regression: the value in `prediction`), the metric to judge by with the champion's value of it on its own
holdout, and a binary model's threshold; hands over an Evidently HTML report `quality.html` and a JSON-ready
verdict: the metric on the new labels against the holdout's value, allowing `max_quality_drop` for the worse,
with the task's other metrics beside it. Evidently's own classification or regression metrics compute the
numbers and its test on the judged metric makes the call; this module only checks the input and reads them.

Not every window can be judged, and the verdict says why instead of guessing:
`"no labels"` (nothing labelled yet), `"too few labels"` (below `min_rows`), `"one class"` (every labelled
row of a binary target has the same label, so ROC AUC is undefined) and `"no baseline"` (the champion's
holdout value is unknown). These come back with `ok` None and no report; broken input (columns missing,
probabilities outside [0, 1], labels that are not the target's codes) raises `QualityError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from pipelines.core.atomic import atomic_path
from pipelines.core.contract import Contract, Task
from pipelines.core.handoffs import ModelQuality, QualityStatus
from pipelines.core.params import LOWER_IS_BETTER, MonitorParams
from pipelines.core.scoring import class_proba, predict

PREDICTION = "prediction"
PREDICTED = "predicted"  # a multiclass model's chosen class, as Evidently reads it
REPORT = "quality.html"
SNAPSHOT = "quality.snapshot.json"  # part:evidently-ui

# Per task, the metrics the monitor can judge by: the name Relay gives each (as the holdout metrics do) and
# Evidently's metric class. The first is the default when params.yaml's gate metric is not among them.
EVIDENTLY: dict[Task, dict[str, str]] = {
    "binary": {
        "roc_auc": "RocAuc",
        "precision": "Precision",
        "recall": "Recall",
        "f1": "F1Score",
        "accuracy": "Accuracy",
        "log_loss": "LogLoss",
    },
    "multiclass": {"macro_f1": "F1Score", "accuracy": "Accuracy", "log_loss": "LogLoss"},
    "regression": {"rmse": "RMSE", "mae": "MAE", "r2": "R2Score"},
}


def judged_metric(task: Task, gate_metric: str) -> str:
    """The metric quality is judged by: the gate's, when Evidently computes it; else the task's first."""
    return gate_metric if gate_metric in EVIDENTLY[task] else next(iter(EVIDENTLY[task]))


def with_answers(frame: pd.DataFrame, model: Any, contract: Contract) -> pd.DataFrame:
    """`frame` (labelled rows with the contract's features) with the model's answer in the columns `run` reads."""
    x = frame[contract.feature_columns()]
    task, names = contract.task, [str(label) for label in contract.labels]
    if task != "multiclass":
        return frame.assign(**{PREDICTION: predict(model, x, task, len(names)) if len(frame) else []})
    proba = class_proba(model, x, len(names)) if len(frame) else np.zeros((0, len(names)))
    return frame.assign(**{name: proba[:, i] for i, name in enumerate(names)})


class QualityError(ValueError):
    """The labelled rows cannot be judged as given (columns missing, values a label or probability cannot be)."""


def _probabilities(frame: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        values = frame[col]
        # An empty column has no value to check and may carry any dtype (object, when built from an empty list).
        if len(values) and (ptypes.is_bool_dtype(values) or not ptypes.is_numeric_dtype(values)):
            raise QualityError(f"{col!r} must hold probabilities, not {values.dtype} values")
        if values.isna().any():
            raise QualityError(f"{col!r} has {int(values.isna().sum())} missing value(s)")
        outside = values[(values < 0) | (values > 1)]
        if len(outside):
            raise QualityError(
                f"{col!r} has {len(outside)} value(s) outside [0, 1] (e.g. {outside.iloc[0]:g}): "
                "it must be a probability"
            )


def _labelled(labelled: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The rows that have a label, with the columns Evidently reads: the target (binary: int 0/1; multiclass: the
    class names; regression: float) and the model's answer."""
    target, task = contract.target, contract.task
    names = [str(label) for label in contract.labels]
    answer = names if task == "multiclass" else [PREDICTION]
    missing = [c for c in (target, *answer) if c not in labelled.columns]
    if missing:
        raise QualityError(f"the labelled rows lack column(s) {', '.join(missing)}")
    # A missing label means "not labelled yet", not a bad row.
    frame = labelled[[target, *answer]].dropna(subset=[target]).reset_index(drop=True)
    if task != "regression":
        _probabilities(frame, answer)
        codes = range(len(names))
        bad = frame[target][~frame[target].isin(list(codes))]
        if len(bad):
            shown = ", ".join(str(v) for v in bad.unique()[:5])
            raise QualityError(f"target {target!r} must hold the codes {list(codes)}; found {shown}")
    if task == "binary":
        # Evidently reads a probability column as binary probabilities only when the target has an integer dtype;
        # with a float target (0.0/1.0, as NaN forces) it takes the probabilities for labels and sklearn refuses
        # them ("can't handle a mix of binary and continuous targets").
        frame[target] = frame[target].astype("int64")
    elif task == "multiclass":
        frame[target] = [names[int(c)] for c in frame[target]]
        frame[PREDICTED] = [names[i] for i in frame[names].to_numpy().argmax(axis=1)] if len(frame) else []
    else:
        frame = frame.astype("float64")
        if frame[PREDICTION].isna().any():
            raise QualityError(f"{PREDICTION!r} has {int(frame[PREDICTION].isna().sum())} missing value(s)")
    return frame


def _definition(contract: Contract) -> Any:
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression

    target, names = contract.target, [str(label) for label in contract.labels]
    if contract.task == "binary":
        binary = BinaryClassification(target=target, prediction_probas=PREDICTION, pos_label=1)
        return DataDefinition(numerical_columns=[PREDICTION], categorical_columns=[target], classification=[binary])
    if contract.task == "multiclass":
        multi = MulticlassClassification(target=target, prediction_labels=PREDICTED, prediction_probas=names)
        return DataDefinition(numerical_columns=names, categorical_columns=[target, PREDICTED], classification=[multi])
    regression = Regression(target=target, prediction=PREDICTION)
    return DataDefinition(numerical_columns=[target, PREDICTION], regression=[regression])


def _metrics(task: Task, judged: str, test: Any, threshold: float | None) -> list[Any]:
    """Evidently's metrics for the task, the judged one carrying the only test. tests=[] keeps Evidently from
    adding its default "beats a dummy model" tests (which also compute dummy metrics)."""
    from evidently import metrics as ev

    out: list[Any] = []
    for name, cls in EVIDENTLY[task].items():
        tests = [test] if name == judged else []
        # MAE's value is a mean and a spread; its test goes on the mean.
        options: dict[str, Any] = {"mean_tests" if cls == "MAE" else "tests": tests}
        if task == "binary":
            # The threshold is a per-metric setting in Evidently 0.7 (BinaryClassification has none); without it
            # the label metrics would use 0.5.
            options["probas_threshold"] = threshold
        if cls in ("Precision", "Recall", "F1Score"):
            # Evidently draws the confusion-matrix widgets at 0.5, not at the champion's threshold.
            options["conf_matrix"] = False
        out.append(getattr(ev, cls)(**options))
    return out


def _not_judged(status: QualityStatus, rows: int, message: str, common: dict[str, Any]) -> ModelQuality:
    return ModelQuality(status=status, labelled_rows=rows, **common, ok=None, report=None, message=message)


# Not marked @stage("monitor"): the registry in pipelines/core/ownership.py allows the mark only in the module it names
# for the stage (pipelines.monitoring.drift), and the decorator raises anywhere else. The monitoring flow calls
# this as part of the monitor stage, under the same owner.
def run(  # noqa: PLR0913 (the judged metric, its baseline and a threshold are what the caller knows)
    labelled: pd.DataFrame,
    out_dir: Path,
    contract: Contract,
    params: MonitorParams,
    *,
    metric: str,
    baseline: float,
    threshold: float | None = None,
) -> ModelQuality:
    """Judge the champion on its newly labelled rows; write `out_dir / quality.html` when it can be judged.

    `metric` is one of the task's `EVIDENTLY` names and `baseline` the champion's value of it on its holdout;
    `ok` is Evidently's verdict on the metric against the baseline made worse by `max_quality_drop`, or None
    when not judged. From `params` it takes `min_rows` and `max_quality_drop`. Raises `QualityError` (a
    ValueError) naming the problem when the input is broken.
    """
    task = contract.task
    if metric not in EVIDENTLY[task]:
        raise QualityError(f"{metric!r} is not a metric the monitor judges a {task} model by: {list(EVIDENTLY[task])}")
    frame = _labelled(labelled, contract)
    target, rows, drop = contract.target, len(frame), params.max_quality_drop
    lower = metric in LOWER_IS_BETTER
    limit = round(baseline + drop if lower else baseline - drop, 4)
    common: dict[str, Any] = {"metric": metric, "baseline": baseline, "limit": limit, "threshold": threshold}
    if not math.isfinite(baseline):
        # Without the champion's own score there is no limit; a NaN one would fail every test and start
        # retraining on nothing.
        return _not_judged(
            "no baseline",
            rows,
            f"the champion has no holdout {metric} to compare with, so quality is not judged",
            common,
        )
    if rows == 0:
        return _not_judged("no labels", 0, "no labelled rows since the champion was trained", common)
    if rows < params.min_rows:
        return _not_judged(
            "too few labels", rows, f"only {rows} labelled rows; {params.min_rows} needed (monitor.min_rows)", common
        )
    if task == "binary":
        common["positive_rate"] = round(float(frame[target].mean()), 4)
        if frame[target].nunique() < 2:
            only = int(frame[target].iloc[0])
            message = (
                f"all {rows} labelled rows have {target}={only}: ROC AUC needs both classes, so quality is not judged"
            )
            return _not_judged("one class", rows, message, common)

    from evidently import Dataset, Report
    from evidently.tests import gte, lte

    test = lte(limit) if lower else gte(limit)
    snapshot = Report(_metrics(task, metric, test, threshold)).run(
        Dataset.from_pandas(frame, data_definition=_definition(contract)), None
    )
    result = snapshot.dict()
    # Each metric's config carries its type as "evidently:metric_v2:<Class>"; match the class name exactly.
    values = {m["config"]["type"].split(":")[-1]: m["value"] for m in result["metrics"]}
    values = {k: v["mean"] if isinstance(v, dict) else v for k, v in values.items()}  # MAE: mean and std
    judged_class = EVIDENTLY[task][metric]
    # Test statuses are a str enum (SUCCESS, FAIL, WARNING, ERROR, SKIPPED): anything but SUCCESS is not ok.
    statuses = [
        t["status"] for t in result["tests"] if str(t["metric_config"]["params"]["type"]).split(":")[-1] == judged_class
    ]
    if len(statuses) != 1:
        raise RuntimeError(f"expected one Evidently test on {metric}, got {len(statuses)}")
    ok = bool(statuses[0] == "SUCCESS")
    value = float(values[judged_class])

    report = out_dir / REPORT
    with atomic_path(report) as tmp:
        # save_html writes only when given a str; a Path is silently ignored.
        snapshot.save_html(str(tmp))
    (out_dir / SNAPSHOT).write_text(snapshot.dumps(), encoding="utf-8")  # part:evidently-ui
    judged = f"{metric} {value:.3f} on {rows} newly labelled rows"
    bound = f"{limit:.3f} (champion's holdout {baseline:.3f} {'plus' if lower else 'minus'} {drop:g})"
    side = ("at or below" if lower else "at or above") if ok else ("above" if lower else "below")
    message = f"{judged}, {side} {bound}: " + ("the model holds up" if ok else "the model got worse")
    return ModelQuality(
        status="judged",
        labelled_rows=rows,
        **common,
        # Six decimals, not four: the value must stay comparable with sklearn's to 1e-6.
        value=round(value, 6),
        metrics={name: round(float(values[cls]), 4) for name, cls in EVIDENTLY[task].items() if cls in values},
        ok=ok,
        report=str(report),
        message=message,
    )

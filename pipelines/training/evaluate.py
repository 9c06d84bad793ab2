"""Evaluate (owner: data scientist): score the model on the holdout, overall and per segment.

Takes `models/` (model and threshold) and the holdout split of `data/dataset/`; hands over
`metrics/holdout.json` (DVC metrics), `metrics/segments.json` (where the model is weaker), and `plots/`:
JSON for `dvc plots` (ROC, precision-recall, calibration, confusion matrix, feature importance) and the
same plots as PNG for the MLflow UI and pull requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import precision_recall_curve, roc_curve

from pipelines.core import artifacts
from pipelines.core.atomic import write_json
from pipelines.core.contract import Contract, Task
from pipelines.core.ownership import stage
from pipelines.core.params import TASK_METRICS, EvaluateParams
from pipelines.core.scoring import confusion, outputs, score_task
from pipelines.training import plots  # part:pictures
from pipelines.training.train import read_checked_split

CURVE_POINTS = 200  # a few hundred points draw the same curve as thousands, and keep the JSON diffable


def _thin(xs: np.ndarray, ys: np.ndarray, x: str, y: str) -> list[dict[str, float]]:
    idx = np.unique(np.linspace(0, len(xs) - 1, min(len(xs), CURVE_POINTS + 1)).astype(int))  # both ends kept
    return [{x: round(float(xs[i]), 5), y: round(float(ys[i]), 5)} for i in idx]


# scikit-learn's scorer for each task's headline metric (the first of TASK_METRICS), which permutation importance
# measures the drop of.
SCORER: dict[Task, str] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "neg_root_mean_squared_error"}


def segment_metrics(
    frame: pd.DataFrame,
    y: np.ndarray,
    out: np.ndarray,
    threshold: float | None,
    params: EvaluateParams,
    contract: Contract,
) -> list[dict[str, Any]]:
    """Metrics per value of each segment column. Small segments are listed but not ranked: their scores
    would swing with a handful of rows."""
    task = contract.task
    rows: list[dict[str, Any]] = []
    for col in params.segments:
        values = frame[col].astype("string").fillna("<missing>").to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            seg_y, seg_out = y[mask], out[mask]
            # A segment needs two classes (or values) to be scored: ROC AUC is undefined on one.
            scorable = len(np.unique(seg_y)) >= 2
            entry: dict[str, Any] = {
                "segment": f"{col}={value}",
                "rows": int(mask.sum()),
                "positive_rate" if task == "binary" else "mean_target": round(float(seg_y.mean()), 4),
                "ranked": bool(mask.sum() >= params.min_segment_rows and scorable),
            }
            if task != "multiclass":
                entry["mean_prediction"] = round(float((seg_out[:, 1] if task == "binary" else seg_out).mean()), 4)
            if scorable:
                full = score_task(
                    task,
                    seg_y,
                    seg_out,
                    labels=contract.labels,
                    threshold=threshold,
                    success_rate=params.action_success_rate,
                )
                entry.update({k: full[k] for k in TASK_METRICS[task][:4]})
            rows.append(entry)
    return rows


def feature_importance(
    model: Any, x: pd.DataFrame, y: np.ndarray, params: EvaluateParams, scoring: str
) -> list[dict[str, Any]]:
    """Permutation importance on (a sample of) the holdout: how much the task's headline metric drops when a
    feature is shuffled. Unlike a booster's split counts it is comparable across features and model types."""
    if len(x) > params.importance_rows:
        picked = np.random.default_rng(0).choice(len(x), params.importance_rows, replace=False)
        x, y = x.iloc[np.sort(picked)], y[np.sort(picked)]
    result = permutation_importance(model, x, y, scoring=scoring, n_repeats=params.importance_repeats, random_state=0)
    return sorted(
        (
            {"feature": f, "importance": round(float(m), 5), "std": round(float(s), 5)}
            for f, m, s in zip(x.columns, result.importances_mean, result.importances_std, strict=True)
        ),
        key=lambda r: -r["importance"],
    )


def _binary_curves(y: np.ndarray, proba: np.ndarray, threshold: float, params: EvaluateParams) -> dict[str, Any]:
    fpr, tpr, _ = roc_curve(y, proba)
    precision, recall, _ = precision_recall_curve(y, proba)
    observed, predicted = calibration_curve(y, proba, n_bins=params.calibration_bins, strategy="quantile")
    return {
        "roc": _thin(fpr, tpr, "fpr", "tpr"),
        # precision_recall_curve runs from high recall to low; reversed, it reads left to right.
        "pr": _thin(recall[::-1], precision[::-1], "recall", "precision"),
        "calibration": [
            {"predicted": round(float(p), 5), "observed": round(float(o), 5)}
            for p, o in zip(predicted, observed, strict=True)
        ],
        "confusion": confusion(y, (proba >= threshold).astype(int), 2),
    }


def _binary_extras(
    metrics: dict[str, float], y: np.ndarray, proba: np.ndarray, threshold: float, params: EvaluateParams
) -> None:
    """The confusion matrix as counts, and the cost of the decisions, in the metrics file: `dvc metrics diff`
    shows how each moved. (DVC's confusion template counts one JSON row per sample, too big to keep in git.)"""
    pred = proba >= threshold
    cells = ("true_negatives", "false_positives", "false_negatives", "true_positives")  # confusion's order
    metrics |= {name: float(c["count"]) for name, c in zip(cells, confusion(y, pred.astype(int), 2), strict=True)}
    cost = (
        params.cost_false_negative * metrics["false_negatives"]
        + params.cost_false_positive * metrics["false_positives"]
    )
    metrics["cost_per_1000"] = round(1000 * cost / len(y), 3)


@stage("evaluate")
def run(
    model_dir: Path,
    dataset_dir: Path,
    metrics_dir: Path,
    plots_dir: Path,
    *,
    contract: Contract,
    params: EvaluateParams,
) -> dict[str, float]:
    unknown = [c for c in params.segments if c not in contract.columns]
    if unknown:
        raise ValueError(f"evaluate.segments names column(s) not in the data contract: {', '.join(unknown)}")
    task, labels = contract.task, contract.labels
    model = joblib.load(model_dir / artifacts.MODEL)
    threshold = json.loads((model_dir / artifacts.MODEL_INFO).read_text()).get("threshold")
    holdout = read_checked_split(dataset_dir, "holdout", contract)
    x = holdout[contract.feature_columns()]
    y = holdout[contract.target].to_numpy()
    out = outputs(model, x, task, len(labels))
    metrics = score_task(task, y, out, labels=labels, threshold=threshold, success_rate=params.action_success_rate)
    curves: dict[str, Any] = {"importance": feature_importance(model, x, y, params, SCORER[task])}
    if task == "binary":
        _binary_extras(metrics, y, out[:, 1], threshold, params)
        curves |= _binary_curves(y, out[:, 1], threshold, params)
    elif task == "multiclass":
        curves["confusion"] = confusion(y, out.argmax(axis=1), len(labels))
    else:
        picked = np.random.default_rng(0).permutation(len(y))[: CURVE_POINTS * 5]
        curves["residuals"] = [
            {"predicted": round(float(out[i]), 5), "residual": round(float(y[i] - out[i]), 5)} for i in np.sort(picked)
        ]
    segments = segment_metrics(holdout, y, out, threshold, params, contract)
    # Everything is computed before anything is written, so a failure leaves the last evaluation whole.
    write_json(metrics, metrics_dir / artifacts.HOLDOUT_METRICS)
    write_json(
        {r["segment"]: {k: v for k, v in r.items() if k != "segment"} for r in segments},
        metrics_dir / artifacts.SEGMENT_METRICS,
    )
    for name in artifacts.CURVES[task]:
        write_json({name: curves[name]}, plots_dir / artifacts.curve_file(name))
    plots.draw(contract, curves, metrics, segments, threshold, plots_dir)  # part:pictures
    return metrics

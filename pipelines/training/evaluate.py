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
from pipelines.core.contract import Contract
from pipelines.core.ownership import stage
from pipelines.core.params import EvaluateParams
from pipelines.core.scoring import confusion, score
from pipelines.training import plots
from pipelines.training.train import read_checked_split

CURVE_POINTS = 200  # a few hundred points draw the same curve as thousands, and keep the JSON diffable


def _thin(xs: np.ndarray, ys: np.ndarray, x: str, y: str) -> list[dict[str, float]]:
    step = max(1, len(xs) // CURVE_POINTS)
    idx = list(range(0, len(xs), step))
    if idx[-1] != len(xs) - 1:
        idx.append(len(xs) - 1)  # keep the curve's end point
    return [{x: round(float(xs[i]), 5), y: round(float(ys[i]), 5)} for i in idx]


def segment_metrics(
    frame: pd.DataFrame, y: np.ndarray, proba: np.ndarray, threshold: float, params: EvaluateParams
) -> list[dict[str, Any]]:
    """Metrics per value of each segment column. Small segments are listed but not ranked: their AUC
    would swing with a handful of rows."""
    rows: list[dict[str, Any]] = []
    for col in params.segments:
        values = frame[col].astype("string").fillna("<missing>").to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            seg_y, seg_p = y[mask], proba[mask]
            entry: dict[str, Any] = {
                "segment": f"{col}={value}",
                "rows": int(mask.sum()),
                "positive_rate": round(float(seg_y.mean()), 4),
                "mean_prediction": round(float(seg_p.mean()), 4),
                "ranked": bool(mask.sum() >= params.min_segment_rows and len(np.unique(seg_y)) == 2),
            }
            if len(np.unique(seg_y)) == 2:
                full = score(seg_y, seg_p, threshold, params.action_success_rate)
                entry.update({k: full[k] for k in ("roc_auc", "pr_auc", "f1", "brier")})
            rows.append(entry)
    return rows


def feature_importance(model: Any, x: pd.DataFrame, y: np.ndarray, params: EvaluateParams) -> list[dict[str, Any]]:
    """Permutation importance on (a sample of) the holdout: how much ROC AUC drops when a feature is
    shuffled. Unlike the booster's split counts it is comparable across features and model types."""
    if len(x) > params.importance_rows:
        picked = np.random.default_rng(0).choice(len(x), params.importance_rows, replace=False)
        x, y = x.iloc[np.sort(picked)], y[np.sort(picked)]
    result = permutation_importance(model, x, y, scoring="roc_auc", n_repeats=params.importance_repeats, random_state=0)
    return sorted(
        (
            {"feature": f, "importance": round(float(m), 5), "std": round(float(s), 5)}
            for f, m, s in zip(x.columns, result.importances_mean, result.importances_std, strict=True)
        ),
        key=lambda r: -r["importance"],
    )


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
    model = joblib.load(model_dir / artifacts.MODEL)
    threshold = float(json.loads((model_dir / artifacts.MODEL_INFO).read_text())["threshold"])
    holdout = read_checked_split(dataset_dir, "holdout", contract)
    x = holdout[contract.feature_columns()]
    y = holdout[contract.target].to_numpy()
    proba = model.predict_proba(x)[:, 1]
    metrics = score(y, proba, threshold, params.action_success_rate)
    pred = proba >= threshold
    # The confusion matrix as counts in the metrics file: `dvc metrics diff` shows how each cell moved.
    # (DVC's confusion template counts one JSON row per sample, too big to keep in git for large holdouts.)
    cells = {(c["actual"], c["predicted"]): c["count"] for c in confusion(y, proba, threshold)}
    metrics.update(
        {
            "true_negatives": float(cells[0, 0]),
            "false_positives": float(cells[0, 1]),
            "false_negatives": float(cells[1, 0]),
            "true_positives": float(cells[1, 1]),
        }
    )
    metrics["cost_per_1000"] = round(
        1000
        * (params.cost_false_negative * np.sum(~pred & (y == 1)) + params.cost_false_positive * np.sum(pred & (y == 0)))
        / len(y),
        3,
    )

    segments = segment_metrics(holdout, y, proba, threshold, params)
    fpr, tpr, _ = roc_curve(y, proba)
    precision, recall, _ = precision_recall_curve(y, proba)
    observed, predicted = calibration_curve(y, proba, n_bins=params.calibration_bins, strategy="quantile")
    curves = {
        "roc": _thin(fpr, tpr, "fpr", "tpr"),
        # precision_recall_curve runs from high recall to low; reversed, it reads left to right.
        "pr": _thin(recall[::-1], precision[::-1], "recall", "precision"),
        "calibration": [
            {"predicted": round(float(p), 5), "observed": round(float(o), 5)}
            for p, o in zip(predicted, observed, strict=True)
        ],
        "confusion": confusion(y, proba, threshold),
        "importance": feature_importance(model, x, y, params),
    }
    # Everything is computed before anything is written, so a failure leaves the last evaluation whole.
    write_json(metrics, metrics_dir / artifacts.HOLDOUT_METRICS)
    write_json(
        {r["segment"]: {k: v for k, v in r.items() if k != "segment"} for r in segments},
        metrics_dir / artifacts.SEGMENT_METRICS,
    )
    for name in artifacts.CURVES:
        write_json({name: curves[name]}, plots_dir / artifacts.curve_file(name))
    plots.roc(curves["roc"], metrics["roc_auc"], plots_dir / artifacts.picture_file("roc"))
    plots.precision_recall(curves["pr"], metrics["pr_auc"], float(y.mean()), plots_dir / artifacts.picture_file("pr"))
    plots.calibration(curves["calibration"], metrics["brier"], plots_dir / artifacts.picture_file("calibration"))
    plots.confusion(curves["confusion"], threshold, plots_dir / artifacts.picture_file("confusion"))
    plots.importance(curves["importance"], plots_dir / artifacts.picture_file("importance"))
    plots.segments(segments, metrics["roc_auc"], plots_dir / artifacts.picture_file("segments"))
    return metrics

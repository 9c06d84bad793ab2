"""How a model is scored: shared by the data scientist's evaluation and the ML engineer's promotion gate,
so both judge a model by the same numbers on the same holdout, and by the service, batch scoring and the
monitor, so all of them read a model's answer the same way for the contract's task (binary, multiclass or
regression)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from pipelines.core.contract import Task


def class_proba(model: Any, x: Any, classes: int) -> np.ndarray:
    """Each record's probability of each class code 0..classes-1; a class the model never saw in training
    gets 0 (scikit-learn's columns follow `model.classes_`, which then lacks it)."""
    proba = np.asarray(model.predict_proba(x))
    if proba.shape[1] == classes:
        return proba
    full = np.zeros((len(proba), classes))
    full[:, np.asarray(model.classes_, dtype=int)] = proba
    return full


def predict(model: Any, x: Any, task: Task, classes: int) -> np.ndarray:
    """The number the prediction log, batch scoring and the monitor keep per record: binary, the probability of
    the positive label; multiclass, the code of the most probable class; regression, the predicted value."""
    out = outputs(model, x, task, classes)
    return out if task == "regression" else out[:, 1] if task == "binary" else out.argmax(axis=1).astype(float)


def score_task(
    task: Task, y: np.ndarray, out: np.ndarray, *, labels: tuple[Any, ...], threshold: float | None, success_rate: float
) -> dict[str, float]:
    """Holdout metrics for the task: `out` is the class probabilities (n x classes) of a classifier, or the
    predicted values of a regressor."""
    if task == "binary":
        return score(y, out[:, 1], threshold if threshold is not None else 0.5, success_rate)
    if task == "regression":
        return {
            "rmse": round(float(root_mean_squared_error(y, out)), 6),
            "mae": round(float(mean_absolute_error(y, out)), 6),
            "r2": round(float(r2_score(y, out)), 6),
            "rows": float(len(y)),
        }
    codes = list(range(len(labels)))
    pred = out.argmax(axis=1)
    recalls = recall_score(y, pred, labels=codes, average=None, zero_division=0)
    return {
        "macro_f1": round(float(f1_score(y, pred, labels=codes, average="macro", zero_division=0)), 6),
        "accuracy": round(float(accuracy_score(y, pred)), 6),
        "log_loss": round(float(log_loss(y, np.clip(out, 1e-15, 1), labels=codes)), 6),
        **{f"recall_{label}": round(float(r), 6) for label, r in zip(labels, recalls, strict=True)},
        "rows": float(len(y)),
    }


def outputs(model: Any, x: Any, task: Task, classes: int) -> np.ndarray:
    """What `score_task` takes: class probabilities, or the predicted values."""
    return np.asarray(model.predict(x), dtype=float) if task == "regression" else class_proba(model, x, classes)


def negative_cost(y: np.ndarray, pred: np.ndarray, *, cost_fn: float, cost_fp: float) -> float:
    """Minus the total cost of the decisions `pred`: a missed return costs `cost_fn`, a needless hint `cost_fp`."""
    # Plain counts: the scorer runs once per candidate threshold, and sklearn's confusion_matrix validates
    # its inputs each time, which made the search cost more than a prediction over the same rows.
    y, pred = np.asarray(y), np.asarray(pred)
    fn = np.count_nonzero((pred == 0) & (y == 1))
    fp = np.count_nonzero((pred == 1) & (y == 0))
    return -float(cost_fn * fn + cost_fp * fp)


def choose_threshold(model: Any, x: Any, y: Any, cost_fn: float, cost_fp: float) -> float:
    """The decision threshold with the least expected cost on (`x`, `y`), rows the fitted `model` never saw.

    scikit-learn's TunedThresholdClassifierCV does the search; `cv="prefit"` keeps the model as fitted.
    """
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import TunedThresholdClassifierCV

    scorer = make_scorer(negative_cost, cost_fn=cost_fn, cost_fp=cost_fp)
    tuned = TunedThresholdClassifierCV(model, scoring=scorer, cv="prefit", refit=False, thresholds=200)
    tuned.fit(x, y)
    return round(float(tuned.best_threshold_), 4)


def score(y: np.ndarray, proba: np.ndarray, threshold: float, success_rate: float) -> dict[str, float]:
    """Holdout metrics. `prevented_per_1000` counts, per 1,000 records, the positives the model flags and the
    action taken on a flag prevents, with probability `success_rate` (the demo: a size hint, a return)."""
    if len(np.unique(y)) < 2:
        raise ValueError("the holdout has a single class; metrics such as ROC AUC are undefined")
    pred = (proba >= threshold).astype(int)
    tp = int(np.sum((pred == 1) & (y == 1)))
    return {
        "roc_auc": round(float(roc_auc_score(y, proba)), 6),
        "pr_auc": round(float(average_precision_score(y, proba)), 6),
        "f1": round(float(f1_score(y, pred, zero_division=0)), 6),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 6),
        "recall": round(float(recall_score(y, pred, zero_division=0)), 6),
        "brier": round(float(brier_score_loss(y, proba)), 6),
        "prevented_per_1000": round(1000 * tp * success_rate / len(y), 3),
        "threshold": threshold,
        "rows": float(len(y)),
    }


def confusion(y: np.ndarray, pred: np.ndarray, classes: int) -> list[dict[str, Any]]:
    """Counts per (actual, predicted) class code: the confusion matrix, one JSON row per cell."""
    codes = list(range(classes))
    m = confusion_matrix(y, pred, labels=codes)
    return [{"actual": a, "predicted": p, "count": int(m[a, p])} for a in codes for p in codes]

"""How a model is scored: shared by the data scientist's evaluation and the ML engineer's promotion gate,
so both judge a model by the same numbers on the same holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)


def choose_threshold(y: np.ndarray, proba: np.ndarray, cost_fn: float, cost_fp: float) -> float:
    """Threshold with the least expected cost: a missed return costs `cost_fn`, a needless hint `cost_fp`."""
    grid = np.linspace(0.05, 0.95, 91)
    costs = [cost_fn * np.sum((proba < t) & (y == 1)) + cost_fp * np.sum((proba >= t) & (y == 0)) for t in grid]
    return round(float(grid[int(np.argmin(costs))]), 4)


def score(y: np.ndarray, proba: np.ndarray, threshold: float, success_rate: float) -> dict[str, float]:
    """Holdout metrics. `returns_avoided_per_1000` assumes a size hint prevents a flagged return with
    probability `success_rate`."""
    if len(np.unique(y)) < 2:
        raise ValueError("the holdout has a single class; metrics such as ROC AUC are undefined")
    pred = (proba >= threshold).astype(int)
    tp = int(np.sum((pred == 1) & (y == 1)))
    return {
        "roc_auc": round(float(roc_auc_score(y, proba)), 6),
        "pr_auc": round(float(average_precision_score(y, proba)), 6),
        "f1": round(float(f1_score(y, pred, zero_division=0)), 6),
        "brier": round(float(brier_score_loss(y, proba)), 6),
        "returns_avoided_per_1000": round(1000 * tp * success_rate / len(y), 3),
        "threshold": threshold,
        "rows": float(len(y)),
    }


def confusion(y: np.ndarray, proba: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    pred = (proba >= threshold).astype(int)
    m = confusion_matrix(y, pred, labels=[0, 1])
    return [{"actual": a, "predicted": p, "count": int(m[a, p])} for a in (0, 1) for p in (0, 1)]

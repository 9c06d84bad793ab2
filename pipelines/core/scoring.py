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
    precision_score,
    recall_score,
    roc_auc_score,
)


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


def confusion(y: np.ndarray, proba: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    pred = (proba >= threshold).astype(int)
    m = confusion_matrix(y, pred, labels=[0, 1])
    return [{"actual": a, "predicted": p, "count": int(m[a, p])} for a in (0, 1) for p in (0, 1)]

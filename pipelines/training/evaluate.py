"""Evaluate (owner: data scientist): score the model on the holdout, overall and per segment.

Takes `models/model.joblib` and the holdout split of `data/dataset/`; hands over `metrics/holdout.json`
(DVC metrics), `metrics/segments.json` and `plots/` (ROC points, confusion matrix) that DVC and MLflow show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import roc_curve

from pipelines.atomic import write_json
from pipelines.contract import Contract
from pipelines.dataset import read_split
from pipelines.ownership import stage
from pipelines.params import EvaluateParams
from pipelines.scoring import confusion, score


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
    model = joblib.load(model_dir / "model.joblib")
    threshold = float(json.loads((model_dir / "model_info.json").read_text())["threshold"])
    unknown = [c for c in params.segments if c not in contract.columns]
    if unknown:
        raise ValueError(f"evaluate.segments names column(s) not in the data contract: {', '.join(unknown)}")
    holdout = read_split(dataset_dir, "holdout")
    y = holdout[contract.target].to_numpy()
    proba = model.predict_proba(holdout[contract.feature_columns()])[:, 1]
    metrics = score(y, proba, threshold, params.suggestion_success_rate)
    write_json(metrics, metrics_dir / "holdout.json")

    segments: dict[str, dict[str, Any]] = {}
    for col in params.segments:
        for value, idx in holdout.groupby(col).groups.items():
            mask = holdout.index.isin(idx)
            seg_y = y[mask]
            entry: dict[str, Any] = {"rows": int(mask.sum()), "positive_rate": round(float(seg_y.mean()), 4)}
            if len(np.unique(seg_y)) == 2:
                entry.update(
                    {
                        k: v
                        for k, v in score(seg_y, proba[mask], threshold, params.suggestion_success_rate).items()
                        if k in ("roc_auc", "f1")
                    }
                )
            segments[f"{col}={value}"] = entry
    write_json(segments, metrics_dir / "segments.json")

    fpr, tpr, _ = roc_curve(y, proba)
    step = max(1, len(fpr) // 200)  # a few hundred points draw the same curve as thousands
    write_json(
        {
            "roc": [
                {"fpr": round(float(f), 5), "tpr": round(float(t), 5)}
                for f, t in zip(fpr[::step], tpr[::step], strict=True)
            ]
        },
        plots_dir / "roc.json",
    )
    write_json({"confusion": confusion(y, proba, threshold)}, plots_dir / "confusion.json")
    return metrics

"""Train (owner: data scientist): fit the returns model on the versioned train split.

Takes the train split of `data/dataset/`, the data contract and `params.yaml` (sections `train`, `evaluate`); hands over
`models/model.joblib` and `models/model_info.json` (decision threshold, features, training rows).
Same data version + params + seed gives the same model and metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from pipelines.atomic import atomic_path, write_json
from pipelines.contract import Contract
from pipelines.dataset import read_split
from pipelines.ownership import stage
from pipelines.params import EvaluateParams, TrainParams
from pipelines.scoring import choose_threshold
from pipelines.training.features import build_pipeline


class TrainingDataError(ValueError):
    """The training data cannot produce a model (empty, one class, missing columns)."""


def check_training_frame(frame: pd.DataFrame, contract: Contract) -> None:
    target = contract.target
    missing = [c for c in [*contract.feature_columns(), target] if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"training data lacks column(s): {', '.join(missing)}")
    classes = frame[target].dropna().unique()
    if len(classes) < 2:
        raise TrainingDataError(
            f"target {target!r} has a single class ({classes.tolist()}); a classifier needs both 0 and 1"
        )


@stage("train")
def run(
    dataset_dir: Path, model_dir: Path, contract: Contract, params: TrainParams, costs: EvaluateParams
) -> dict[str, Any]:
    """Fit the pipeline; choose the cost-optimal threshold on a validation slice of the train split."""
    frame = read_split(dataset_dir, "train")
    check_training_frame(frame, contract)
    features = contract.feature_columns()
    target = contract.target
    fit_part, val_part = train_test_split(
        frame, test_size=params.validation_share, random_state=params.seed, stratify=frame[target]
    )
    pipeline = build_pipeline(params, contract).fit(fit_part[features], fit_part[target])
    val_proba = pipeline.predict_proba(val_part[features])[:, 1]
    threshold = choose_threshold(
        val_part[target].to_numpy(), val_proba, costs.cost_false_negative, costs.cost_false_positive
    )
    # Refit on the whole split so no labelled row is wasted; the threshold stays the validated one.
    pipeline = build_pipeline(params, contract).fit(frame[features], frame[target])
    with atomic_path(model_dir / "model.joblib") as tmp:
        joblib.dump(pipeline, tmp)
    info = {
        "threshold": threshold,
        "features": features,
        "train_rows": len(frame),
        "positive_rate": round(float(np.mean(frame[target])), 6),
        "iterations": int(pipeline.named_steps["model"].n_iter_),
    }
    write_json(info, model_dir / "model_info.json")
    return info

"""Train (owner: data scientist): fit the returns model on the versioned train split.

Takes the train split of `data/dataset/`, the data contract (its target says the task: binary, multiclass or
regression) and `params.yaml` (sections `train`, `evaluate`); hands over `models/model.joblib` and
`models/model_info.json` (the task, the decision threshold of a binary model, features, training rows).
Same data version + params + seed gives the same model and metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from pipelines.core import artifacts
from pipelines.core.atomic import atomic_path, write_json
from pipelines.core.contract import Contract
from pipelines.core.dataset import Split, split_files
from pipelines.core.ownership import stage
from pipelines.core.params import EvaluateParams, TrainParams
from pipelines.core.scoring import choose_threshold, outputs, score_task
from pipelines.training.features import build_pipeline


class TrainingDataError(ValueError):
    """The training data cannot produce a model (breaks the contract, one class, missing columns)."""


def read_checked_split(dataset_dir: Path, split: Split, contract: Contract) -> pd.DataFrame:
    """One split of the dataset, refused unless every batch file still meets the data contract.

    The validate stage checked these rows when they landed, but the contract may have changed since, or
    a file may have been edited by hand; a model must never be fitted or judged on rows the contract
    rejects. Ids are checked across files too: a duplicated order would be counted twice.
    """
    from pipelines.core.contract_checks import Screen

    seen: set[str] = set()
    frames, problems = [], []
    for path in split_files(dataset_dir, split):
        screen = Screen(contract, f"{split}/{path.name}", seen_ids=seen, encoded=True)
        good, _ = screen.screen(pd.read_parquet(path))
        report = screen.finish(max_invalid_share=None, delivery=False)
        if report.ok:
            frames.append(good)
        else:
            problems.append(report.summary())
    if problems:
        raise TrainingDataError(
            f"the {split} split breaks the data contract, so nothing was trained:\n"
            + "\n".join(problems)
            + "\nre-run the data stages (`dvc repro version`) so validation quarantines or rejects these rows"
        )
    return pd.concat(frames, ignore_index=True)


def check_training_frame(frame: pd.DataFrame, contract: Contract) -> None:
    target = contract.target
    missing = [c for c in [*contract.feature_columns(), target] if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"training data lacks column(s): {', '.join(missing)}")
    if contract.task == "regression":
        if frame[target].nunique() < 2:
            raise TrainingDataError(f"target {target!r} has a single value; there is nothing to learn")
        return
    classes = frame[target].dropna().unique()
    if len(classes) < 2:
        only = contract.labels[int(classes[0])] if len(classes) else None
        raise TrainingDataError(
            f"target {target!r} has a single class ({only!r}); a classifier needs two of {list(contract.labels)}"
        )


def tuning_split(frame: pd.DataFrame, contract: Contract, params: TrainParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows the model is fitted on and the validation slice its threshold (and a sweep) is judged on.

    Train and every sweep trial use this same split, so a trial with params.yaml's values reproduces
    the train stage's validation numbers exactly. The holdout is never used to choose anything.
    """
    check_training_frame(frame, contract)
    # Stratified for a classifier, so a rare class is on both sides; a class with a single row cannot be split
    # that way, and then the split is left to chance.
    target = frame[contract.target]
    stratify = None if contract.task == "regression" or target.value_counts().min() < 2 else target
    fit_part, val_part = train_test_split(
        frame, test_size=params.validation_share, random_state=params.seed, stratify=stratify
    )
    return fit_part, val_part


@dataclass(frozen=True)
class Fitted:
    pipeline: Pipeline
    threshold: float | None  # binary only
    validation: dict[str, float]  # metrics on the validation slice, at the chosen threshold
    fit_seconds: float


def fit_and_tune(
    fit_part: pd.DataFrame, val_part: pd.DataFrame, contract: Contract, params: TrainParams, costs: EvaluateParams
) -> Fitted:
    """Fit the pipeline, then (binary) choose the cost-optimal threshold on rows it did not see."""
    features, target, task = contract.feature_columns(), contract.target, contract.task
    started = time.perf_counter()
    pipeline = build_pipeline(params, contract).fit(fit_part[features], fit_part[target])
    fit_seconds = time.perf_counter() - started
    x_val, y_val = val_part[features], val_part[target].to_numpy()
    threshold = None
    if task == "binary":
        threshold = choose_threshold(pipeline, x_val, y_val, costs.cost_false_negative, costs.cost_false_positive)
    out = outputs(pipeline, x_val, task, len(contract.labels))
    validation = score_task(
        task, y_val, out, labels=contract.labels, threshold=threshold, success_rate=costs.action_success_rate
    )
    return Fitted(pipeline, threshold, validation, fit_seconds)


@stage("train")
def run(
    dataset_dir: Path, model_dir: Path, contract: Contract, params: TrainParams, costs: EvaluateParams
) -> dict[str, Any]:
    """Fit on the train split less a validation slice; choose the decision threshold on that slice.

    There is no refit on the whole split: the threshold belongs to the model it was tuned for, and a
    refit would double the training time for 15% more rows.
    """
    frame = read_checked_split(dataset_dir, "train", contract)
    fit_part, val_part = tuning_split(frame, contract, params)
    fitted = fit_and_tune(fit_part, val_part, contract, params, costs)
    with atomic_path(model_dir / artifacts.MODEL) as tmp:
        joblib.dump(fitted.pipeline, tmp)
    info = {
        "threshold": fitted.threshold,
        "threshold_costs": {"false_negative": costs.cost_false_negative, "false_positive": costs.cost_false_positive},
        "features": contract.feature_columns(),
        "train_rows": len(frame),
        "fit_rows": len(fit_part),
        "validation_rows": len(val_part),
        "validation": fitted.validation,
        "task": contract.task,
        # No timings here: this file is part of the DVC output, whose md5 must depend only on the inputs.
        "model_kind": params.model.kind,
    }
    write_json(info, model_dir / artifacts.MODEL_INFO)
    return info

"""The files the training stages hand over, named once (data scientist → ML engineer, MLOps engineer).

`train` writes the model and its facts to `models/`; `evaluate` writes the holdout metrics and segment
metrics to `metrics/` and the curves (JSON for `dvc plots`, PNG for people) to `plots/`; `validate` writes
its report to `metrics/`. The folders come from `pipelines.core.settings`; `dvc.yaml` declares the same files as
the stages' outputs, and `tests/contracts/test_artifact_names.py` checks that the two agree.
"""

from __future__ import annotations

from typing import Final

from pipelines.core.contract import Task

MODEL: Final = "model.joblib"  # models/: the fitted scikit-learn pipeline
MODEL_INFO: Final = "model_info.json"  # models/: decision threshold, features, training rows
VALIDATION_METRICS: Final = "validation.json"  # metrics/: what validate checked and found
HOLDOUT_METRICS: Final = "holdout.json"  # metrics/: the holdout scores `dvc metrics diff` compares
SEGMENT_METRICS: Final = "segments.json"  # metrics/: the same scores per segment value
# plots/<name>.json per task: the points `dvc plots` draws (a confusion matrix is drawn in confusion.png, and a
# binary model's is counted in HOLDOUT_METRICS); dvc.yaml declares the folder, and its top-level `plots` how
# to draw each file.
CURVES: Final[dict[Task, tuple[str, ...]]] = {
    "binary": ("roc", "pr", "calibration", "importance"),
    "multiclass": ("importance",),
    "regression": ("residuals", "importance"),
}
# part:pictures:begin
# plots/<name>.png: the same evaluation drawn for the MLflow UI and pull requests
PICTURES: Final[dict[Task, tuple[str, ...]]] = {
    "binary": ("roc", "pr", "calibration", "confusion", "importance", "segments"),
    "multiclass": ("confusion", "importance", "segments"),
    "regression": ("residuals", "importance", "segments"),
}
# part:pictures:end
# In the MLflow run (track → the MLOps engineer's monitor): a sample of the training data with the model's own
# predictions, the reference that live traffic is compared with.
REFERENCE_DIR: Final = "reference"
REFERENCE_FILE: Final = "reference.parquet"


# part:pictures:begin
def picture_file(name: str) -> str:
    return f"{name}.png"


# part:pictures:end
def curve_file(name: str) -> str:
    return f"{name}.json"

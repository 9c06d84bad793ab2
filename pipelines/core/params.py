"""`params.yaml`, typed: one section per stage, unknown keys and bad values rejected by name.

DVC reads the same file (stages list the dotted keys they depend on), so a change to a section re-runs
exactly the stages that use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipelines.core.contract import Contract, Task
from pipelines.core.yaml_file import load_model

# Metrics where less is better; every other one is ranked and gated highest first.
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae", "cost_per_1000"})
# The holdout metrics of each task (pipelines/core/scoring.py computes them; a multiclass model also gets
# recall_<class> for each class), which params.yaml may name for the gate, the sweep and the monitor.
TASK_METRICS: dict[Task, tuple[str, ...]] = {
    "binary": ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "prevented_per_1000"),
    "multiclass": ("macro_f1", "accuracy", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestParams(_Section):
    source: Literal["generator", "file", "folder", "url"] = "generator"
    path: str | None = None  # file or folder (relative to the project root), or http(s) URL
    format: Literal["auto", "csv", "parquet"] = "auto"
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    timeout_s: float = Field(30.0, gt=0)  # per read
    deadline_s: float = Field(600.0, gt=0)  # for the whole download
    max_download_mb: int = Field(1024, gt=0)
    rows_per_batch: int = Field(5000, gt=0)
    seed: int = 42

    @model_validator(mode="after")
    def _source_needs_path(self) -> IngestParams:
        if self.source != "generator" and not self.path:
            raise ValueError(f"ingest.source is {self.source!r} but ingest.path is empty")
        if self.source == "url" and not str(self.path).startswith(("http://", "https://")):
            raise ValueError(f"ingest.source is 'url' but ingest.path {self.path!r} is not an http(s) URL")
        return self


class ValidateParams(_Section):
    # Share of a batch's rows that may break the contract and be quarantined instead of failing the batch.
    max_invalid_share: float = Field(0.0, ge=0, lt=1)


class VersionParams(_Section):
    holdout_share: float = Field(0.2, gt=0, lt=1)
    reference_rows: int = Field(5000, gt=0)


# The model kinds `train.model.kind` chooses from; each kind's other fields are its hyperparameters, which
# pipelines/training/features.py hands to the estimator.
class HistGradientBoosting(_Section):
    kind: Literal["hist_gradient_boosting"] = "hist_gradient_boosting"
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_iter: int = Field(300, gt=0)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(0.0, ge=0)


class LogisticRegression(_Section):
    kind: Literal["logistic_regression"] = "logistic_regression"
    C: float = Field(1.0, gt=0)  # inverse regularisation strength, as scikit-learn names it
    max_iter: int = Field(1000, gt=0)


class RandomForest(_Section):
    kind: Literal["random_forest"] = "random_forest"
    n_estimators: int = Field(200, gt=0)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(5, ge=1)


ModelKind = Annotated[HistGradientBoosting | LogisticRegression | RandomForest, Field(discriminator="kind")]


class TrainParams(_Section):
    seed: int = 7
    validation_share: float = Field(0.15, gt=0, lt=1)
    model: ModelKind = HistGradientBoosting()


class EvaluateParams(_Section):
    cost_false_negative: float = Field(4.0, gt=0)
    cost_false_positive: float = Field(1.0, gt=0)
    action_success_rate: float = Field(0.5, ge=0, le=1)
    segments: list[str] = Field(default_factory=lambda: ["channel", "category", "brand"])  # metrics per value
    min_segment_rows: int = Field(100, ge=1)  # segments smaller than this are listed but not ranked
    calibration_bins: int = Field(10, ge=2, le=100)
    importance_rows: int = Field(5000, ge=100)  # holdout rows used for permutation importance
    importance_repeats: int = Field(5, ge=1, le=50)


# part:experiments:begin
# Each kind's grid when params.yaml names none, so that swapping kinds needs no edit of the sweep.
DEFAULT_SPACES: dict[str, dict[str, list[float]]] = {
    "hist_gradient_boosting": {"learning_rate": [0.04, 0.08, 0.15], "max_leaf_nodes": [15, 31, 63]},
    "logistic_regression": {"C": [0.1, 0.3, 1.0, 3.0, 10.0]},
    "random_forest": {"n_estimators": [100, 300], "min_samples_leaf": [1, 5, 20]},
}


class SweepParams(_Section):
    trials: int = Field(8, ge=1, le=1000)
    parallel: int = Field(2, ge=1, le=64)
    runner: Literal["processes", "threads", "dask", "ray"] = "processes"
    metric: str | None = None  # a validation metric of the task (TASK_METRICS); none: the gate's metric
    seed: int = 0
    # Values to try for fields of the chosen model kind (train.model); none: that kind's DEFAULT_SPACES.
    space: dict[str, list[float]] | None = None

    def space_for(self, model: BaseModel) -> dict[str, list[float]]:
        return self.space if self.space is not None else DEFAULT_SPACES[model.model_fields["kind"].default]

    def check_space(self, model: BaseModel) -> None:
        """Every key is a hyperparameter of `model`'s kind and every value one it accepts, so a bad space
        fails before any trial runs."""
        from pydantic import ValidationError

        space = self.space_for(model)
        if not space:
            raise ValueError("sweep.space is empty: name at least one train.model key and the values to try")
        kind = type(model)
        tunable = sorted(set(kind.model_fields) - {"kind"})
        for key, values in space.items():
            if key not in tunable:
                name = kind.model_fields["kind"].default
                raise ValueError(
                    f"sweep.space.{key} is not a hyperparameter of {name}; it has {', '.join(tunable)} "
                    "(or leave sweep.space out for the kind's own grid)"
                )
            if not values or len(set(values)) != len(values):
                raise ValueError(f"sweep.space.{key} needs values to try, each once: {values}")
            for value in values:
                try:
                    kind.model_validate({**model.model_dump(), key: value})
                except ValidationError as exc:
                    first = exc.errors()[0]["msg"]
                    raise ValueError(
                        f"sweep.space.{key}: {value!r} is not a valid train.model.{key} ({first})"
                    ) from None


# part:experiments:end
class PromoteParams(_Section):
    # The holdout metric a challenger must beat the champion on, by `min_improvement`; `direction` auto reads
    # it the way the metric points (rmse, mae, log_loss and brier: lower is better).
    metric: str = "roc_auc"
    direction: Literal["auto", "higher", "lower"] = "auto"
    min_improvement: float = Field(0.002, ge=0)
    # Absolute bounds by metric: every candidate must reach each floor and stay under each ceiling.
    floors: dict[str, float] = Field(default_factory=lambda: {"roc_auc": 0.65})
    ceilings: dict[str, float] = Field(default_factory=lambda: {"brier": 0.25})

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower" or (self.direction == "auto" and self.metric in LOWER_IS_BETTER)


class MonitorParams(_Section):
    # The window: the newest `window_rows` predictions, and only those of the last `window_hours` when set.
    window_rows: int = Field(5000, gt=0)
    window_hours: float | None = Field(None, gt=0)
    min_rows: int = Field(200, gt=0)
    drift_share: float = Field(0.3, gt=0, le=1)
    # Data quality: a column's share of missing values may exceed the reference's by at most this much.
    max_missing_increase: float = Field(0.05, ge=0, le=1)
    # Windows (and references) larger than this are judged on a seeded sample of this many rows; null: never.
    sample_rows: int | None = Field(100_000, gt=0)
    # Model quality on delayed labels: the champion's score on the gate's metric (promote.metric), on batches
    # labelled since it was trained, may be at most this much worse than on its own holdout.
    max_quality_drop: float = Field(0.05, ge=0)

    @model_validator(mode="after")
    def _window_can_be_judged(self) -> MonitorParams:
        if self.min_rows > self.window_rows:
            raise ValueError(f"monitor.min_rows ({self.min_rows}) exceeds monitor.window_rows ({self.window_rows})")
        return self


class RetrainParams(_Section):
    min_new_rows: int = Field(1000, ge=1)
    # The monitoring flow starts the retraining flow itself when its decision calls for one; false leaves
    # that to a person (`relay retrain`).
    automatic: bool = True


# The generator's drift scenarios (pipelines/data/generator.py reads its list from here).
Scenario = Literal["new_brand", "promotion", "policy_change"]


# part:teaching:begin
class DemoParams(_Section):
    train_batches: list[int] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1)
    drift_batch: int = Field(5, ge=1)
    drift_scenarios: list[Scenario] = Field(default_factory=lambda: list[Scenario](["new_brand", "promotion"]))
    replay_batch_size: int = Field(250, gt=0)

    @model_validator(mode="after")
    def _drift_week_is_new(self) -> DemoParams:
        if min(self.train_batches) < 1:
            raise ValueError("demo.train_batches: batch numbers start at 1")
        if self.drift_batch in self.train_batches:
            raise ValueError(f"demo.drift_batch ({self.drift_batch}) must not be one of demo.train_batches")
        return self


# part:teaching:end
class Params(_Section):
    ingest: IngestParams = IngestParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    version: VersionParams = VersionParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    sweep: SweepParams = SweepParams()  # part:experiments
    promote: PromoteParams = PromoteParams()
    monitor: MonitorParams = MonitorParams()
    retrain: RetrainParams = RetrainParams()
    demo: DemoParams = DemoParams()  # part:teaching

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # part:experiments:begin

    @model_validator(mode="after")
    def _sweep_fits_the_model(self) -> Params:
        self.sweep.check_space(self.train.model)
        return self

    # part:experiments:end


def check_against(params: Params, contract: Contract) -> None:
    """Every metric params.yaml names is one the contract's task produces. The flows check it first, so a
    binary metric under a regression target fails before training, not at the gate after it."""
    task = contract.task
    known = TASK_METRICS[task]
    named = {
        "promote.metric": [params.promote.metric],
        "promote.floors": list(params.promote.floors),
        "promote.ceilings": list(params.promote.ceilings),
        "sweep.metric": [params.sweep.metric] if params.sweep.metric else [],  # part:experiments
    }
    for key, metrics in named.items():
        for metric in metrics:
            if metric not in known and not (task == "multiclass" and metric.startswith("recall_")):
                raise ParamsError(
                    f"params.yaml {key} names {metric!r}, which a {task} model does not have; it has {', '.join(known)}"
                )


class ParamsError(ValueError):
    """`params.yaml` is missing, unreadable or has a key or value Relay does not accept."""


def load_params(path: Path) -> Params:
    return load_model(path, Params, ParamsError, "params file")

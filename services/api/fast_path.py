"""The champion's exact fast path (owner: ML engineer): request records straight into the matrix its estimator takes.

scikit-learn's `Pipeline.predict_proba` on a handful of records spends most of its time outside the model: a
pandas frame built from the records, then the ColumnTransformer selecting, checking and stacking its columns.
For the tree models' encoding (each category to its code, every number as it is) that work is a dictionary
lookup and a float per cell, done here in plain Python; the fitted estimator then scores the matrix as the
pipeline would. Nothing is re-implemented but the encoding, and only for the encoders whose behaviour is exact to
copy: an OrdinalEncoder that turns unknown and missing values into NaN, and columns passed through. Any other
pipeline (the logistic regression's one-hot encoding and scaling, a model swapped in by a user) gets None and is
scored by scikit-learn, as is any pipeline whose fast answers differ from scikit-learn's on a probe of records
(`matches`). A parity test holds the two paths to 1e-6 on the holdout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.core.contract import Task
from pipelines.core.scoring import outputs


@dataclass(frozen=True)
class FastPipeline:
    """The fitted estimator of a pipeline and, per input column in the order it was fitted on, how a request's
    value becomes the number the estimator saw in training."""

    columns: tuple[tuple[str, dict[Any, float] | None], ...]  # None: the number passes through
    estimator: Any

    def matrix(self, records: list[dict[str, Any]]) -> np.ndarray:
        out = np.empty((len(records), len(self.columns)))
        nan = math.nan
        for j, (name, codes) in enumerate(self.columns):
            if codes is None:
                out[:, j] = [nan if (v := r.get(name)) is None else v for r in records]
            else:
                out[:, j] = [codes.get(r.get(name), nan) for r in records]
        return out

    def outputs(self, records: list[dict[str, Any]], task: Task, classes: int) -> np.ndarray:
        return outputs(self.estimator, self.matrix(records), task, classes)


def compile_pipeline(model: Any) -> FastPipeline | None:
    """The fast path for `model`, or None when it is not a ColumnTransformer of exact-to-copy encoders followed by
    one estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    if not isinstance(model, Pipeline) or len(model.steps) != 2 or not isinstance(model[0], ColumnTransformer):
        return None
    encode, estimator = model[0], model[-1]
    if getattr(model, "feature_names_in_", None) is None or getattr(estimator, "feature_names_in_", None) is not None:
        return None  # fitted on a bare matrix, or an estimator that wants a frame back
    columns: list[tuple[str, dict[Any, float] | None]] = []
    for _, step, names in encode.transformers_:
        if step == "drop" or len(names) == 0:
            continue
        if not all(isinstance(c, str) for c in names):  # columns chosen by position or mask: not Relay's
            return None
        if step == "passthrough" or _identity(step):
            columns += [(c, None) for c in names]
        elif isinstance(step, OrdinalEncoder) and _exact(step):
            columns += [(c, _codes(cats)) for c, cats in zip(names, step.categories_, strict=True)]
        else:
            return None
    return FastPipeline(tuple(columns), estimator) if columns else None


def matches(fast: FastPipeline, model: Any, records: list[dict[str, Any]], task: Task, classes: int) -> bool:
    """Whether the fast path answers `records` as scikit-learn does, to 1e-6: the check a service runs on every
    model before using the fast path for it."""
    import pandas as pd

    frame = pd.DataFrame.from_records(records, columns=list(model.feature_names_in_))
    expected = outputs(model, frame, task, classes)
    got = fast.outputs(records, task, classes)
    return expected.shape == got.shape and bool(np.allclose(expected, got, rtol=0, atol=1e-6, equal_nan=True))


def probe_records(fast: FastPipeline, example: dict[str, Any]) -> list[dict[str, Any]]:
    """Records that reach every branch of the encoding: each known category of each column, a value the model
    never saw, a missing value in each column, and numbers around the example's."""
    records = [dict(example)]
    for name, codes in fast.columns:
        if codes is None:
            value = example.get(name)
            base = float(value) if isinstance(value, int | float) else 1.0
            records += [{**example, name: v} for v in (None, 0.0, -base, base * 10, base + 0.5)]
        else:
            records += [{**example, name: v} for v in (*codes, "__never_seen__", None)]
    return records


def _identity(step: Any) -> bool:
    """What a fitted ColumnTransformer keeps for "passthrough": a FunctionTransformer without a function."""
    from sklearn.preprocessing import FunctionTransformer

    return isinstance(step, FunctionTransformer) and step.func is None and not step.validate


def _exact(encoder: Any) -> bool:
    """An OrdinalEncoder whose unknown and missing values both become NaN: the one a lookup copies exactly."""
    unknown_is_nan = encoder.handle_unknown == "use_encoded_value" and _is_nan(encoder.unknown_value)
    return bool(unknown_is_nan and _is_nan(encoder.encoded_missing_value) and encoder.dtype == np.float64)


def _codes(categories: np.ndarray) -> dict[Any, float]:
    # A missing value may be one of the categories (seen in training); it maps to NaN, as the encoder does.
    return {c: float(i) for i, c in enumerate(categories.tolist()) if c is not None and not _is_nan(c)}


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)

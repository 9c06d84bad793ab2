"""Monitor, model quality (owner: MLOps engineer): judge the champion on the labels that arrived after it served.

Drift only says the inputs moved; once delayed labels come in, this says whether the model actually got worse.
Takes the rows labelled since the champion was trained (the batches `labels.py` finds) with the contract's
target (0/1; a missing value means not labelled yet) and the champion's probability for them in `prediction`,
the champion's ROC AUC on its own holdout and
its decision threshold; hands over an Evidently HTML report `quality.html` and a JSON-ready verdict: ROC AUC
against the champion's holdout minus the allowed drop, with precision, recall, F1, accuracy and log loss at
the champion's threshold. Evidently's own classification metrics compute the numbers and its test on ROC AUC
makes the call; this module only checks the input and reads the results.

Not every window can be judged, and the verdict says why instead of guessing:
`"no labels"` (nothing labelled yet), `"too few labels"` (below `min_rows`), `"one class"` (every labelled
row has the same label, so ROC AUC is undefined) and `"no baseline"` (the champion's holdout ROC AUC is
unknown). These come back with `ok` None and no report; broken input (columns missing, probabilities
outside [0, 1], labels other than 0/1) raises `QualityError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from pipelines.core.atomic import atomic_path
from pipelines.core.contract import Contract
from pipelines.core.handoffs import ModelQuality, QualityStatus
from pipelines.core.params import MonitorParams

PREDICTION = "prediction"
REPORT = "quality.html"

# Evidently metric class -> key in the verdict's "metrics"; ROC AUC is reported on its own.
_METRICS = {
    "Precision": "precision",
    "Recall": "recall",
    "F1Score": "f1",
    "Accuracy": "accuracy",
    "LogLoss": "log_loss",
}


class QualityError(ValueError):
    """The labelled rows cannot be judged as given (columns missing, values a label or probability cannot be)."""


def _labelled(labelled: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The rows that have a label, as int 0/1 target and float64 probability: the two columns Evidently reads."""
    target = contract.target
    missing = [c for c in (target, PREDICTION) if c not in labelled.columns]
    if missing:
        raise QualityError(f"the labelled rows lack column(s) {', '.join(missing)}")
    labelled = labelled.reset_index(drop=True)
    proba = labelled[PREDICTION]
    # An empty column has no value to check and may carry any dtype (object, when built from an empty list).
    if len(proba) and (ptypes.is_bool_dtype(proba) or not ptypes.is_numeric_dtype(proba)):
        raise QualityError(f"{PREDICTION!r} must hold probabilities, not {proba.dtype} values")
    proba = proba.astype("float64")
    if proba.isna().any():
        raise QualityError(f"{PREDICTION!r} has {int(proba.isna().sum())} missing value(s)")
    outside = proba[(proba < 0) | (proba > 1)]
    if len(outside):
        raise QualityError(
            f"{PREDICTION!r} has {len(outside)} value(s) outside [0, 1] (e.g. {outside.iloc[0]:g}): "
            "it must be the probability of class 1"
        )
    # A missing label means "not labelled yet", not a bad row.
    frame = pd.DataFrame({target: labelled[target], PREDICTION: proba}).dropna(subset=[target])
    labels = frame[target]
    bad = labels[~labels.isin([0, 1])]
    if len(bad):
        shown = ", ".join(str(v) for v in bad.unique()[:5])
        raise QualityError(f"target {target!r} must be 0 or 1; found {shown}")
    # Evidently reads a probability column as binary probabilities only when the target has an integer dtype;
    # with a float target (0.0/1.0, as NaN forces) it takes the probabilities for labels and sklearn refuses them
    # ("can't handle a mix of binary and continuous targets").
    frame[target] = labels.astype("int64")
    return frame.reset_index(drop=True)


def _not_judged(status: QualityStatus, rows: int, message: str, common: dict[str, Any]) -> ModelQuality:
    return ModelQuality(status=status, labelled_rows=rows, **common, ok=None, report=None, message=message)


# Not marked @stage("monitor"): the registry in pipelines/core/ownership.py allows the mark only in the module it names
# for the stage (pipelines.monitoring.drift), and the decorator raises anywhere else. The monitoring flow calls
# this as part of the monitor stage, under the same owner.
def run(
    labelled: pd.DataFrame,
    out_dir: Path,
    contract: Contract,
    params: MonitorParams,
    *,
    baseline_roc_auc: float,
    threshold: float,
) -> ModelQuality:
    """Judge the champion on its newly labelled rows; write `out_dir / quality.html` when it can be judged.

    `status` is "judged", "no labels", "too few labels" or "one class" (all labelled rows share one label, so
    ROC AUC is undefined); `ok` is Evidently's verdict on `roc_auc >= baseline_roc_auc - max_roc_auc_drop`, or
    None when not judged. From `params` it takes `min_rows` and `max_roc_auc_drop`. Raises `QualityError`
    (a ValueError) naming the problem when the input is broken.
    """
    frame = _labelled(labelled, contract)
    target, min_rows, max_roc_auc_drop = contract.target, params.min_rows, params.max_roc_auc_drop
    rows = len(frame)
    min_roc_auc = round(baseline_roc_auc - max_roc_auc_drop, 4)
    common: dict[str, Any] = {
        "baseline_roc_auc": baseline_roc_auc,
        "min_roc_auc": min_roc_auc,
        "threshold": threshold,
    }
    if not math.isfinite(baseline_roc_auc):
        # Without the champion's own score there is no floor; a NaN floor would fail every test and
        # start retraining on nothing.
        return _not_judged(
            "no baseline", rows, "the champion has no holdout ROC AUC to compare with, so quality is not judged", common
        )
    if rows == 0:
        return _not_judged("no labels", 0, "no labelled rows since the champion was trained", common)
    if rows < min_rows:
        return _not_judged(
            "too few labels", rows, f"only {rows} labelled rows; {min_rows} needed (monitor.min_rows)", common
        )
    positive_rate = round(float(frame[target].mean()), 4)
    if frame[target].nunique() < 2:
        only = int(frame[target].iloc[0])
        verdict = _not_judged(
            "one class",
            rows,
            f"all {rows} labelled rows have {target}={only}: ROC AUC needs both classes, so quality is not judged",
            common,
        )
        return verdict.model_copy(update={"positive_rate": positive_rate})

    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import Accuracy, F1Score, LogLoss, Precision, Recall, RocAuc
    from evidently.tests import gte

    definition = DataDefinition(
        numerical_columns=[PREDICTION],
        categorical_columns=[target],
        classification=[BinaryClassification(target=target, prediction_probas=PREDICTION, pos_label=1)],
    )
    current = Dataset.from_pandas(frame, data_definition=definition)
    # The threshold is a per-metric setting in Evidently 0.7 (BinaryClassification has none); without it the
    # label metrics would use 0.5. Every metric gets the same value so Evidently computes the underlying
    # classification quality once. tests=[] keeps Evidently from adding its default "beats a dummy model"
    # tests (which also compute dummy metrics); only the ROC AUC test decides. The confusion-matrix widgets
    # are off because Evidently draws them at 0.5, not at the champion's threshold.
    metrics: list[Any] = [
        RocAuc(probas_threshold=threshold, tests=[gte(min_roc_auc)]),
        Precision(probas_threshold=threshold, conf_matrix=False, tests=[]),
        Recall(probas_threshold=threshold, conf_matrix=False, tests=[]),
        F1Score(probas_threshold=threshold, conf_matrix=False, tests=[]),
        Accuracy(probas_threshold=threshold, tests=[]),
        LogLoss(probas_threshold=threshold, tests=[]),
    ]
    snapshot = Report(metrics).run(current, None)

    result = snapshot.dict()
    # Each metric's config carries its type as "evidently:metric_v2:<Class>"; match the class name exactly.
    values = {m["config"]["type"].split(":")[-1]: m["value"] for m in result["metrics"]}
    roc_auc = float(values["RocAuc"])
    # Test statuses are a str enum (SUCCESS, FAIL, WARNING, ERROR, SKIPPED): anything but SUCCESS is not ok.
    statuses = [
        t["status"] for t in result["tests"] if str(t["metric_config"]["params"]["type"]).split(":")[-1] == "RocAuc"
    ]
    if len(statuses) != 1:
        raise RuntimeError(f"expected one Evidently test on ROC AUC, got {len(statuses)}")
    ok = bool(statuses[0] == "SUCCESS")

    report = out_dir / REPORT
    with atomic_path(report) as tmp:
        # save_html writes only when given a str; a Path is silently ignored.
        snapshot.save_html(str(tmp))
    judged = f"ROC AUC {roc_auc:.3f} on {rows} newly labelled rows"
    floor = f"{min_roc_auc:.3f} (champion's holdout {baseline_roc_auc:.3f} minus {max_roc_auc_drop:g})"
    message = (
        f"{judged}, at or above {floor}: the model holds up" if ok else f"{judged}, below {floor}: the model got worse"
    )
    return ModelQuality(
        status="judged",
        labelled_rows=rows,
        **common,
        # Six decimals, not four: the value must stay comparable with sklearn's to 1e-6.
        roc_auc=round(roc_auc, 6),
        metrics={key: round(float(values[name]), 4) for name, key in _METRICS.items() if name in values},
        positive_rate=positive_rate,
        ok=ok,
        report=str(report),
        message=message,
    )

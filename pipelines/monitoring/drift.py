"""Monitor (owner: MLOps engineer): compare live traffic with what the champion was trained on.

Takes a window of the prediction log and the champion's reference sample (logged with its MLflow run,
predictions included); hands over an Evidently HTML report and a JSON decision under
`reports/monitoring/<timestamp>/`: whether the dataset drifted, which features, their scores and
thresholds, whether the predictions drifted, and data quality (missing values against the reference,
values outside the contract's ranges, empty columns, categories the reference never had). Evidently's own
metrics and tests make the calls; this module only reads their verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from pipelines.core.contract import Contract
from pipelines.core.handoffs import ColumnDrift, DataQuality, MissingValues, MonitorDecision, MonitorWindow
from pipelines.core.ownership import stage
from pipelines.core.params import MonitorParams

PREDICTION = "prediction"
# part:evidently-ui:begin
# Evidently's snapshot of the report, for its workspace and UI (pipelines/monitoring/dashboard.py). Written with
# dumps(): save_json writes only the metric values, which Snapshot.load cannot read back.
SNAPSHOT = "report.snapshot.json"
# part:evidently-ui:end


class MonitoringError(ValueError):
    """The monitor cannot judge drift from what it was given (window too small, columns missing)."""


def _columns(contract: Contract) -> tuple[list[str], list[str]]:
    # A multiclass model's prediction is the code of its chosen class: a category, not a quantity.
    classes = contract.task == "multiclass"
    numeric = [*contract.numeric_features(), *([] if classes else [PREDICTION])]
    categorical = [*contract.categorical_features(), *contract.ordinal_features(), *([PREDICTION] if classes else [])]
    return numeric, categorical


def _check(frame: pd.DataFrame, contract: Contract, what: str, min_rows: int) -> None:
    numeric, categorical = _columns(contract)
    missing = [c for c in numeric + categorical if c not in frame.columns]
    if missing:
        raise MonitoringError(f"{what} lacks column(s) {', '.join(missing)}")
    if len(frame) < min_rows:
        raise MonitoringError(f"{what} has {len(frame)} rows; the monitor needs at least {min_rows} (monitor.min_rows)")


def _plain(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Numbers as float64 and categories as objects with None for missing: Evidently 0.7's drift preset
    crashes on pandas' nullable dtypes (Int64, Float64, string), which a parquet reference can come back as."""
    numeric, categorical = _columns(contract)
    out = frame[numeric + categorical].reset_index(drop=True).copy()
    for col in numeric:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in categorical:
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def report_metrics(
    contract: Contract, numeric: list[str], categorical: list[str], drift_share: float, max_missing_increase: float
) -> list[Any]:
    """What the monitor asks Evidently for: the drift preset, and data quality per column."""
    from evidently.metrics import MissingValueCount, OutRangeValueCount
    from evidently.presets import DataDriftPreset
    from evidently.tests import Reference, eq, lte

    cols = numeric + categorical
    metrics: list[Any] = [DataDriftPreset(drift_share=drift_share)]
    # Missing values never count as drift (the drift tests drop them), so a jump in them is checked here.
    metrics += [
        MissingValueCount(column=c, tests=[], share_tests=[lte(Reference(absolute=max_missing_increase))]) for c in cols
    ]
    bounds = {c: contract.column(c) for c in numeric if c != PREDICTION}
    metrics += [
        OutRangeValueCount(
            column=c,
            left=col.minimum if col.minimum is not None else float("-inf"),
            right=col.maximum if col.maximum is not None else float("inf"),
            tests=[eq(0)],
            share_tests=[],
        )
        for c, col in bounds.items()
        if col.minimum is not None or col.maximum is not None
    ]
    return metrics


def _edge(window: pd.DataFrame, pick: Any) -> str | None:
    return str(pick(window["ts"])) if "ts" in window and len(window) else None


def _new_categories(current: pd.DataFrame, reference: pd.DataFrame, contract: Contract) -> dict[str, list[str]]:
    found = {}
    for col in [*contract.categorical_features(), *contract.ordinal_features()]:
        new = sorted(set(current[col].dropna().astype(str)) - set(reference[col].dropna().astype(str)))
        if new:
            found[col] = new
    return found


class DriftInputs(BaseModel):
    """What the monitor judges: a window of served traffic against the champion's reference sample."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    window: pd.DataFrame
    reference: pd.DataFrame
    contract: Contract
    params: MonitorParams  # drift_share, min_rows, max_missing_increase and sample_rows are used here
    reference_version: str  # the champion's data version
    model_version: str
    seed: int = 0  # for the sample of a window larger than params.sample_rows


@dataclass
class _Verdicts:
    """What Evidently's report says, per column and for the dataset."""

    share: float = 0.0
    dataset_drift: bool = False
    columns: dict[str, ColumnDrift] = field(default_factory=dict)
    missing: dict[str, MissingValues] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)


def _read_report(result: dict[str, Any], reference: pd.DataFrame) -> _Verdicts:
    """The drift, missing-value and range verdicts out of Evidently's snapshot (its metrics, then its tests)."""
    v = _Verdicts()
    for metric in result["metrics"]:
        cfg, kind = metric["config"], str(metric["config"]["type"])
        if kind.endswith("DriftedColumnsCount"):
            v.share = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            score = round(float(metric["value"]), 6)
            v.columns[cfg["column"]] = ColumnDrift(
                score=score, method=cfg["method"], threshold=cfg["threshold"], drifted=False
            )
        elif kind.endswith("MissingValueCount"):
            col = cfg["column"]
            share, ref_share = round(float(metric["value"]["share"]), 4), round(float(reference[col].isna().mean()), 4)
            v.missing[col] = MissingValues(share=share, reference_share=ref_share, failed=False)
        elif kind.endswith("OutRangeValueCount"):
            v.out_of_range[cfg["column"]] = int(metric["value"]["count"])
    by_id = {m["id"]: m["config"] for m in result["metrics"]}
    for test in result["tests"]:
        params, failed = test["metric_config"]["params"], test["status"] == "FAIL"
        kind = str(params["type"])
        if kind.endswith("DriftedColumnsCount"):
            v.dataset_drift = failed
        elif kind.endswith("ValueDrift") and failed:
            col = params["column"]
            v.columns[col] = v.columns[col].model_copy(update={"drifted": True})
        elif kind.endswith("MissingValueCount") and failed:
            col = by_id.get(test["metric_config"]["metric_id"], params)["column"]
            v.missing[col] = v.missing[col].model_copy(update={"failed": True})
    return v


@stage("monitor")
def run(inputs: DriftInputs, out_dir: Path) -> MonitorDecision:
    contract, p = inputs.contract, inputs.params
    window, reference = inputs.window, inputs.reference
    _check(window, contract, "the prediction-log window", p.min_rows)
    _check(reference, contract, "the reference sample", p.min_rows)
    from evidently import DataDefinition, Dataset, Report

    window_rows, window_from, window_to = len(window), _edge(window, min), _edge(window, max)
    sampled = p.sample_rows is not None and len(window) > p.sample_rows
    if p.sample_rows is not None:
        # Evidently's cost grows with rows; past `sample_rows` a seeded sample judges the window (and the
        # reference), which Relay's monitoring benchmark shows finds the same drift.
        window = window.sample(n=p.sample_rows, random_state=inputs.seed) if sampled else window
        if len(reference) > p.sample_rows:
            reference = reference.sample(n=p.sample_rows, random_state=inputs.seed)
    numeric, categorical = _columns(contract)
    current_frame, reference_frame = _plain(window, contract), _plain(reference, contract)
    # A column with no value at all cannot be compared (Evidently refuses the whole report); it is a data
    # quality finding in itself, and the other columns are still judged.
    empty = sorted(c for c in numeric + categorical if current_frame[c].isna().all() or reference_frame[c].isna().all())
    numeric = [c for c in numeric if c not in empty]
    categorical = [c for c in categorical if c not in empty]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    cols = numeric + categorical
    current = Dataset.from_pandas(current_frame[cols], data_definition=definition)
    ref = Dataset.from_pandas(reference_frame[cols], data_definition=definition)
    metrics = report_metrics(contract, numeric, categorical, p.drift_share, p.max_missing_increase)
    snapshot = Report(metrics, include_tests=True).run(current, ref)
    v = _read_report(snapshot.dict(), reference_frame)

    new_categories = _new_categories(window, reference, contract)
    problems = [f"{c} is empty in the window or the reference" for c in empty]
    problems += [
        f"{c}: {m.share:.1%} missing against {m.reference_share:.1%} in the reference"
        for c, m in v.missing.items()
        if m.failed
    ]
    problems += [f"{c}: {n} value(s) outside the contract's range" for c, n in v.out_of_range.items() if n]
    problems += [f"{c}: new value(s) {', '.join(values)}" for c, values in new_categories.items()]

    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "report.html"))
    (out_dir / SNAPSHOT).write_text(snapshot.dumps(), encoding="utf-8")  # part:evidently-ui
    decision = MonitorDecision(
        drift=v.dataset_drift,
        drift_share=round(v.share, 4),
        drift_share_threshold=p.drift_share,
        drifted_features=sorted(c for c, col in v.columns.items() if col.drifted and c != PREDICTION),
        prediction_drift=PREDICTION in v.columns and v.columns[PREDICTION].drifted,
        columns=v.columns,
        new_categories=new_categories,
        data_quality=DataQuality(
            ok=not problems,
            problems=problems,
            missing=v.missing,
            out_of_range=v.out_of_range,
            empty_columns=empty,
            max_missing_increase=p.max_missing_increase,
        ),
        window=MonitorWindow(
            rows=window_rows, judged_rows=len(window), sampled=sampled, start=window_from, end=window_to
        ),
        reference_version=inputs.reference_version,
        model_version=inputs.model_version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        report=str(out_dir / "report.html"),
    )
    decision.write(decision.path)
    return decision

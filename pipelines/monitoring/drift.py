"""Monitor (owner: MLOps engineer): compare live traffic with what the champion was trained on.

Takes a window of the prediction log and the champion's reference sample (logged with its MLflow run,
predictions included); hands over an Evidently HTML report and a JSON decision under
`reports/monitoring/<timestamp>/`: whether the dataset drifted, which features, their scores and
thresholds, whether the predictions drifted, and data quality (missing values against the reference,
values outside the contract's ranges, empty columns, categories the reference never had). Evidently's own
metrics and tests make the calls; this module only reads their verdicts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.handoffs import ColumnDrift, DataQuality, MissingValues, MonitorDecision, MonitorWindow
from pipelines.core.ownership import stage

PREDICTION = "prediction"


class MonitoringError(ValueError):
    """The monitor cannot judge drift from what it was given (window too small, columns missing)."""


def _columns(contract: Contract) -> tuple[list[str], list[str]]:
    numeric = [*contract.numeric_features(), PREDICTION]
    categorical = [*contract.categorical_features(), *contract.ordinal_features()]
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
    _, categorical = _columns(contract)
    found = {}
    for col in categorical:
        new = sorted(set(current[col].dropna().astype(str)) - set(reference[col].dropna().astype(str)))
        if new:
            found[col] = new
    return found


@stage("monitor")
def run(
    window: pd.DataFrame,
    reference: pd.DataFrame,
    out_dir: Path,
    contract: Contract,
    *,
    drift_share: float,
    min_rows: int,
    max_missing_increase: float = 0.05,
    sample_rows: int | None = None,
    seed: int = 0,
    reference_version: str,
    model_version: str,
) -> MonitorDecision:
    _check(window, contract, "the prediction-log window", min_rows)
    _check(reference, contract, "the reference sample", min_rows)
    from evidently import DataDefinition, Dataset, Report

    window_rows, window_from, window_to = len(window), _edge(window, min), _edge(window, max)
    sampled = sample_rows is not None and len(window) > sample_rows
    if sample_rows is not None:
        # Evidently's cost grows with rows; past `sample_rows` a seeded sample judges the window (and the
        # reference), which Relay's monitoring benchmark shows finds the same drift.
        window = window.sample(n=sample_rows, random_state=seed) if sampled else window
        if len(reference) > sample_rows:
            reference = reference.sample(n=sample_rows, random_state=seed)
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
    metrics = report_metrics(contract, numeric, categorical, drift_share, max_missing_increase)
    snapshot = Report(metrics, include_tests=True).run(current, ref)

    result = snapshot.dict()
    share = next(m["value"]["share"] for m in result["metrics"] if m["config"]["type"].endswith("DriftedColumnsCount"))
    columns: dict[str, dict[str, Any]] = {}
    missing: dict[str, dict[str, Any]] = {}
    out_of_range: dict[str, int] = {}
    for metric in result["metrics"]:
        cfg = metric["config"]
        if cfg["type"].endswith("ValueDrift"):
            columns[cfg["column"]] = {
                "score": round(float(metric["value"]), 6),
                "method": cfg["method"],
                "threshold": cfg["threshold"],
                "drifted": False,
            }
        elif cfg["type"].endswith("MissingValueCount"):
            col = cfg["column"]
            missing[col] = {
                "share": round(float(metric["value"]["share"]), 4),
                "reference_share": round(float(reference_frame[col].isna().mean()), 4),
                "failed": False,
            }
        elif cfg["type"].endswith("OutRangeValueCount"):
            out_of_range[cfg["column"]] = int(metric["value"]["count"])
    by_id = {m["id"]: m["config"] for m in result["metrics"]}
    dataset_drift = False
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        failed = test["status"] == "FAIL"
        kind = str(params["type"])
        if kind.endswith("ValueDrift") and failed:
            columns[params["column"]]["drifted"] = True
        elif kind.endswith("DriftedColumnsCount"):
            dataset_drift = failed
        elif kind.endswith("MissingValueCount") and failed:
            missing[by_id.get(test["metric_config"]["metric_id"], params)["column"]]["failed"] = True
    new_categories = _new_categories(window, reference, contract)
    problems = [f"{c} is empty in the window or the reference" for c in empty]
    problems += [
        f"{c}: {v['share']:.1%} missing against {v['reference_share']:.1%} in the reference"
        for c, v in missing.items()
        if v["failed"]
    ]
    problems += [f"{c}: {n} value(s) outside the contract's range" for c, n in out_of_range.items() if n]
    problems += [f"{c}: new value(s) {', '.join(v)}" for c, v in new_categories.items()]

    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "report.html"))
    judged = {c: ColumnDrift.model_validate(v) for c, v in columns.items()}
    decision = MonitorDecision(
        drift=dataset_drift,
        drift_share=round(float(share), 4),
        drift_share_threshold=drift_share,
        drifted_features=sorted(c for c, v in judged.items() if v.drifted and c != PREDICTION),
        prediction_drift=PREDICTION in judged and judged[PREDICTION].drifted,
        columns=judged,
        new_categories=new_categories,
        data_quality=DataQuality(
            ok=not problems,
            problems=problems,
            missing={c: MissingValues.model_validate(v) for c, v in missing.items()},
            out_of_range=out_of_range,
            empty_columns=empty,
            max_missing_increase=max_missing_increase,
        ),
        window=MonitorWindow(
            rows=window_rows, judged_rows=len(window), sampled=sampled, start=window_from, end=window_to
        ),
        reference_version=reference_version,
        model_version=model_version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        report=str(out_dir / "report.html"),
    )
    decision.write(decision.path)
    return decision

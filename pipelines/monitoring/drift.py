"""Monitor (owner: MLOps engineer): compare live traffic with what the champion was trained on.

Takes a window of the prediction log and the champion's reference sample (logged with its MLflow run,
predictions included); hands over an Evidently HTML report and a JSON decision under
`reports/monitoring/<timestamp>/`: whether the dataset drifted, which features, their scores and
thresholds. Evidently's own drift tests make the call; this module only reads their verdicts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.atomic import write_json
from pipelines.contract import Contract
from pipelines.ownership import stage

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
    reference_version: str,
    model_version: str,
) -> dict[str, Any]:
    _check(window, contract, "the prediction-log window", min_rows)
    _check(reference, contract, "the reference sample", min_rows)
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric, categorical = _columns(contract)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    cols = numeric + categorical
    current = Dataset.from_pandas(window[cols].reset_index(drop=True), data_definition=definition)
    ref = Dataset.from_pandas(reference[cols].reset_index(drop=True), data_definition=definition)
    snapshot = Report([DataDriftPreset(drift_share=drift_share)], include_tests=True).run(current, ref)

    result = snapshot.dict()
    share = next(m["value"]["share"] for m in result["metrics"] if m["config"]["type"].endswith("DriftedColumnsCount"))
    columns: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        cfg = metric["config"]
        if cfg["type"].endswith("ValueDrift"):
            columns[cfg["column"]] = {
                "score": round(float(metric["value"]), 6),
                "method": cfg["method"],
                "threshold": cfg["threshold"],
                "drifted": False,
            }
    dataset_drift = False
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith("ValueDrift") and test["status"] == "FAIL":
            columns[params["column"]]["drifted"] = True
        if params["type"].endswith("DriftedColumnsCount"):
            dataset_drift = test["status"] == "FAIL"

    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "report.html"))
    decision = {
        "drift": dataset_drift,
        "drift_share": round(float(share), 4),
        "drift_share_threshold": drift_share,
        "drifted_features": sorted(c for c, v in columns.items() if v["drifted"] and c != PREDICTION),
        "prediction_drift": columns.get(PREDICTION, {}).get("drifted", False),
        "columns": columns,
        "new_categories": _new_categories(window, reference, contract),
        "window": {
            "rows": len(window),
            "from": str(window["ts"].min()) if "ts" in window else None,
            "to": str(window["ts"].max()) if "ts" in window else None,
        },
        "reference_version": reference_version,
        "model_version": model_version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "report": str(out_dir / "report.html"),
    }
    write_json(decision, out_dir / "decision.json")
    return decision

"""Retrain (owner: MLOps engineer): decide whether a drift decision should start the training flow.

Takes the monitor's decision and how many newly labelled rows have just landed; hands over a retraining
request (or the reason there is none). The training flow then builds a
new data version and sends the challenger through the ML engineer's promotion gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.ownership import stage
from pipelines.params import RetrainParams


@dataclass(frozen=True)
class RetrainRequest:
    retrain: bool
    reason: str
    trigger: str = "drift"


@stage("retrain")
def run(decision: dict[str, Any], new_labelled_rows: int, params: RetrainParams) -> RetrainRequest:
    if not decision.get("drift"):
        return RetrainRequest(False, f"no dataset drift (share {decision.get('drift_share', 0):.2f})")
    if new_labelled_rows < params.min_new_rows:
        return RetrainRequest(
            False,
            f"drift detected but only {new_labelled_rows} new labelled rows; "
            f"waiting for {params.min_new_rows} (retrain.min_new_rows)",
        )
    features = ", ".join(decision.get("drifted_features", [])) or "prediction"
    return RetrainRequest(
        True, f"drift in {features} (share {decision['drift_share']:.2f}); {new_labelled_rows} new labelled rows"
    )

"""Retrain (owner: MLOps engineer): decide whether a monitor decision should start the training flow.

Takes the monitor's decision (data drift, and the champion's quality on labels that arrived since it was
trained) and how many newly labelled rows have landed; hands over a retraining request, or the reason there
is none. The retraining flow then runs the training flow on the newest data version, and the ML engineer's
promotion gate decides whether the challenger replaces the champion.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.core.handoffs import MonitorDecision
from pipelines.core.ownership import stage
from pipelines.core.params import RetrainParams


@dataclass(frozen=True)
class RetrainRequest:
    retrain: bool
    reason: str
    trigger: str = "drift"


def _causes(decision: MonitorDecision) -> list[str]:
    """What in the decision calls for a new model: data drift, a quality drop, or both."""
    causes = []
    if decision.drift:
        features = ", ".join(decision.drifted_features) or "the prediction"
        causes.append(f"drift in {features} (share {decision.drift_share:.2f})")
    quality = decision.model_quality
    if quality is not None and quality.dropped:
        causes.append(
            f"{quality.metric} {quality.value:.3f} on new labels, worse than {quality.limit:.3f} "
            "(concept drift: the same inputs now lead to other outcomes)"
        )
    return causes


@stage("retrain")
def run(decision: MonitorDecision, new_labelled_rows: int, params: RetrainParams) -> RetrainRequest:
    causes = _causes(decision)
    if not causes:
        return RetrainRequest(False, f"no drift (share {decision.drift_share:.2f}) and no quality drop")
    if new_labelled_rows < params.min_new_rows:
        return RetrainRequest(
            False,
            f"{'; '.join(causes)}, but only {new_labelled_rows} new labelled rows; "
            f"waiting for {params.min_new_rows} (retrain.min_new_rows)",
        )
    return RetrainRequest(True, f"{'; '.join(causes)}; {new_labelled_rows} new labelled rows")

"""Register and promote (owner: ML engineer): the gate between a trained model and production.

Takes a tracked run (its model URI and tags) and the holdout of the current data version; hands over a
registered model version tagged with metrics, data version and run id, and moves the `champion` alias to
it only if it passes the absolute thresholds in `params.yaml` (section `promote`) and beats the current
champion on the same holdout by `min_improvement`. Otherwise the version gets alias `challenger` and the
reason is recorded on it. Both models are loaded through MLflow, as the service loads them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from pipelines.core.contract import Contract
from pipelines.core.dataset import read_split
from pipelines.core.handoffs import PromotionDecision
from pipelines.core.lineage import configure_mlflow
from pipelines.core.ownership import stage, tags_for
from pipelines.core.params import EvaluateParams, PromoteParams
from pipelines.core.scoring import outputs, score_task

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"


class Registry(BaseModel):
    """The model registry: MLflow's tracking store and the registered model's name."""

    model_config = ConfigDict(frozen=True)
    tracking_uri: str
    model_name: str


class Candidate(BaseModel):
    """The model the track stage logged: its MLflow run and model URI."""

    model_config = ConfigDict(frozen=True)
    run_id: str
    model_uri: str


class Holdout(BaseModel):
    """The holdout both models are scored on: the dataset folder, its data version, the contract it meets."""

    model_config = ConfigDict(frozen=True)
    dataset_dir: Path
    version: str
    contract: Contract


class RegisterInputs(BaseModel):
    """What the register stage takes: the candidate, the registry, the holdout, the gate's rules and costs, and
    who promotes (recorded on a promoted version)."""

    model_config = ConfigDict(frozen=True)
    registry: Registry
    candidate: Candidate
    holdout: Holdout
    gate: PromoteParams
    costs: EvaluateParams
    promoted_by: str
    # False: judge the candidate on the gate's floors alone, not against the champion (`relay pipeline
    # --no-compare`), for a champion trained on another contract.
    compare: bool = True


def _version_for_run(client: Any, name: str, run_id: str) -> Any | None:
    for mv in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
        return mv
    return None


def _score_version(
    uri: str, threshold: float | None, holdout: pd.DataFrame, contract: Contract, costs: EvaluateParams
) -> dict[str, float]:
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(uri)
    out = outputs(model, holdout[contract.feature_columns()], contract.task, len(contract.labels))
    y = holdout[contract.target].to_numpy()
    return score_task(
        contract.task, y, out, labels=contract.labels, threshold=threshold, success_rate=costs.action_success_rate
    )


def _threshold(tags: dict[str, str]) -> float | None:
    return float(tags["relay.threshold"]) if "relay.threshold" in tags else None


def contract_tags(contract: Contract) -> dict[str, str]:
    """What a version records of the contract it was trained on, for the gate to compare the next one with."""
    return {
        "relay.contract": contract.name,
        "relay.features": ",".join(contract.feature_columns()),
        "relay.task": contract.task,
    }


def contract_change(champion_tags: dict[str, str], contract: Contract) -> str | None:
    """How the champion's contract differs from this one (None: the same, or the champion predates the tags)."""
    if "relay.features" not in champion_tags:
        return None
    theirs = champion_tags["relay.features"].split(",")
    ours = contract.feature_columns()
    name = champion_tags.get("relay.contract", "?")
    task = champion_tags.get("relay.task", "binary")
    if task != contract.task:
        return f"a {task} target, this candidate on a {contract.task} one"
    if name == contract.name and theirs == ours:
        return None
    gone, new = [f for f in theirs if f not in ours], [f for f in ours if f not in theirs]
    what = "; ".join(f"{label}: {', '.join(cols)}" for label, cols in (("not in this one", gone), ("new", new)) if cols)
    return f"contract {name!r}, this candidate on {contract.name!r}" + (f" ({what})" if what else "")


MOVE_ON = (
    "register under a new model name (model_name in [tool.relay] of pyproject.toml), or promote it without "
    "comparison: `relay pipeline --no-compare`"
)


def gate(candidate: dict[str, float], champion: dict[str, float] | None, params: PromoteParams) -> tuple[bool, str]:
    """The promotion rule on its own, so it can be read and tested without MLflow."""
    for metric, floor in params.floors.items():
        if candidate[metric] < floor:
            return False, f"{metric} {candidate[metric]:.4f} below the floor {floor}"
    for metric, ceiling in params.ceilings.items():
        if candidate[metric] > ceiling:
            return False, f"{metric} {candidate[metric]:.4f} above the ceiling {ceiling}"
    if champion is None:
        return True, "no champion yet; candidate passes the absolute thresholds"
    m, lower = params.metric, params.lower_is_better
    gain = champion[m] - candidate[m] if lower else candidate[m] - champion[m]
    if gain < params.min_improvement:
        return False, (
            f"{m} {candidate[m]:.4f} does not beat champion {champion[m]:.4f} "
            f"by {params.min_improvement} on the same holdout ({'lower' if lower else 'higher'} is better)"
        )
    return True, f"{m} {candidate[m]:.4f} beats champion {champion[m]:.4f} by {gain:.4f}"


def _registered_version(client: Any, inputs: RegisterInputs, run_tags: dict[str, str]) -> Any:
    """The candidate run's version of the registered model, registering the model and the version if needed
    (once per run, so re-running the flow on the same model adds nothing)."""
    from mlflow.exceptions import MlflowException

    model_name, run_id, model_uri = inputs.registry.model_name, inputs.candidate.run_id, inputs.candidate.model_uri
    contract = inputs.holdout.contract
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(
            model_name,
            tags=tags_for("register"),
            description=f"Predicts `{contract.target}` for {contract.name} records. {contract.description}",
        )
    mv = _version_for_run(client, model_name, run_id)
    if mv is not None:
        return mv
    reason = {"relay.trigger_reason": run_tags["relay.trigger_reason"]} if "relay.trigger_reason" in run_tags else {}
    return client.create_model_version(
        model_name,
        source=model_uri,
        run_id=run_id,
        model_id=model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None,
        tags={
            **tags_for("register"),
            "relay.run_id": run_id,
            "relay.data_version": run_tags.get("relay.data_version", "unknown"),
            **({"relay.threshold": run_tags["relay.threshold"]} if "relay.threshold" in run_tags else {}),
            "relay.trigger": run_tags.get("relay.trigger", "manual"),
            **contract_tags(contract),
            **reason,
        },
    )


def _record(client: Any, inputs: RegisterInputs, mv: Any, decision: PromotionDecision) -> None:
    """The verdict on the version (its metrics, the gate and its reason) and the aliases it moves."""
    from mlflow.exceptions import MlflowException

    model_name, version = decision.model_name, decision.version
    for key, value in decision.candidate_metrics.items():
        client.set_model_version_tag(model_name, version, f"metric.{key}", str(value))
    client.set_model_version_tag(model_name, version, "relay.gate", "passed" if decision.promoted else "failed")
    client.set_model_version_tag(model_name, version, "relay.gate_reason", decision.reason)
    client.set_model_version_tag(model_name, version, "relay.gate_holdout_version", inputs.holdout.version)
    if not decision.promoted:
        client.set_registered_model_alias(model_name, CHALLENGER, version)
        return
    if decision.champion_version is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, decision.champion_version)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    client.set_model_version_tag(model_name, version, "relay.promoted_by", inputs.promoted_by)
    client.set_model_version_tag(
        model_name, version, "relay.promoted_at", datetime.now(UTC).isoformat(timespec="seconds")
    )
    # Promoted again through the gate: an earlier rollback no longer speaks for this version.
    for key in ("relay.rolled_back_at", "relay.rolled_back_by", "relay.rolled_back_reason"):
        if key in mv.tags:
            client.delete_model_version_tag(model_name, version, key)
    try:
        if str(client.get_model_version_by_alias(model_name, CHALLENGER).version) == version:
            client.delete_registered_model_alias(model_name, CHALLENGER)
    except MlflowException:
        pass


def _judge(
    inputs: RegisterInputs, candidate: dict[str, float], champ: Any | None, holdout: pd.DataFrame
) -> tuple[bool, str, dict[str, float] | None]:
    """The gate's verdict and the champion's metrics. A champion trained on another contract cannot be scored
    on this holdout: the verdict says so and how to go on, so no version is left without one."""
    if champ is None:
        return *gate(candidate, None, inputs.gate), None
    contract = inputs.holdout.contract
    version = str(champ.version)
    change = contract_change(champ.tags, contract)
    if not inputs.compare:
        promoted, reason = gate(candidate, None, inputs.gate)
        return promoted, f"not compared with champion {version} (--no-compare); {reason.split('; ')[-1]}", None
    if change is not None:
        return False, f"champion {version} was trained on {change}; {MOVE_ON}", None
    threshold = _threshold(champ.tags)
    try:
        champion = _score_version(
            f"models:/{inputs.registry.model_name}/{version}", threshold, holdout, contract, inputs.costs
        )
    except (KeyError, ValueError) as exc:  # a champion from before the contract tags, on other columns
        return False, f"champion {version} cannot be scored on this holdout ({str(exc)[:200]}); {MOVE_ON}", None
    return *gate(candidate, champion, inputs.gate), champion


@stage("register")
def run(inputs: RegisterInputs) -> PromotionDecision:
    """Register the candidate's model (once per run), score it and the champion on the same holdout, and let
    the gate decide: promoted to champion (the old one becomes previous-champion) or kept as challenger."""
    model_name, contract, costs = inputs.registry.model_name, inputs.holdout.contract, inputs.costs
    configure_mlflow(inputs.registry.tracking_uri, create=True)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    run_tags = client.get_run(inputs.candidate.run_id).data.tags
    mv = _registered_version(client, inputs, run_tags)
    version = str(mv.version)
    holdout = read_split(inputs.holdout.dataset_dir, "holdout")
    cand_threshold = _threshold(run_tags)
    candidate = _score_version(f"models:/{model_name}/{version}", cand_threshold, holdout, contract, costs)
    try:
        champ = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        champ = None
    champ_version = str(champ.version) if champ is not None else None
    if champ_version == version:
        return PromotionDecision(
            model_name=model_name,
            version=version,
            promoted=True,
            reason="already champion",
            candidate_metrics=candidate,
            champion_version=champ_version,
            champion_metrics=candidate,
        )
    promoted, reason, champion = _judge(inputs, candidate, champ, holdout)
    decision = PromotionDecision(
        model_name=model_name,
        version=version,
        promoted=promoted,
        reason=reason,
        candidate_metrics=candidate,
        champion_version=champ_version,
        champion_metrics=champion or {},
    )
    _record(client, inputs, mv, decision)
    return decision

"""Model contract (data scientist → ML engineer): the MLflow run the data scientist's track stage makes.

The run carries the model with a signature whose inputs are the contract's features with their types, an input
example that meets the contract, the holdout metrics the promotion gate reads (`promote` in params.yaml), the
decision threshold and lineage tags (data version, git commit, owner), and the promotion gate can judge it.
The fast tests prove the check on runs built by hand; the integration test reads a run the training flow made.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.core.contract import Contract
from pipelines.core.lineage import check_trigger
from pipelines.core.ownership import tags_for
from pipelines.core.params import PromoteParams, load_params
from pipelines.release import register
from tests.contracts.handoff import guard
from tests.helpers import REPO

MODEL = guard("model contract")
# The tags the ML engineer's register stage and the service read from the run (pipelines/release/register.py).
THRESHOLD, DATA_VERSION, GIT_COMMIT, TRIGGER, MODEL_URI = (
    "relay.threshold",
    "relay.data_version",
    "relay.git_commit",
    "relay.trigger",
    "relay.model_uri",
)


@dataclass(frozen=True)
class TrackedRun:
    """What the ML engineer receives from the data scientist, as read back from MLflow."""

    model_uri: str | None
    signature: tuple[tuple[str, str], ...]  # the model's input columns and their types
    input_example: pd.DataFrame | None
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    metadata: dict[str, Any]  # the logged model's metadata


class _MetricProbe(dict[str, float]):
    """Answers every metric with NaN, which compares false with any bound, so the gate goes down each of its
    branches; notes every name it is asked for."""

    def __init__(self, seen: set[str]) -> None:
        super().__init__()
        self.seen = seen

    def __getitem__(self, key: str) -> float:
        self.seen.add(key)
        return math.nan

    def get(self, key: str, default: Any = None) -> float:
        return self[key]


def metrics_the_gate_reads(params: PromoteParams) -> set[str]:
    seen: set[str] = set()
    register.gate(_MetricProbe(seen), _MetricProbe(seen), params)
    return seen


def _example_problems(example: pd.DataFrame | None, contract: Contract) -> list[str]:
    if example is None or example.empty:
        return ["the run has no input example"]
    features = contract.feature_columns()
    problems = [f"the input example lacks column {n!r}" for n in features if n not in example]
    problems += [
        f"the input example has column {n!r}, not a feature of the contract" for n in example if n not in features
    ]
    for name in (n for n in features if n in example):
        col = contract.column(name)
        for value in example[name]:
            if pd.isna(value):
                problem = None if col.nullable else "is missing in a column that is not nullable"
            else:
                problem = col.problem_with(value.item() if hasattr(value, "item") else value)
            if problem:
                problems.append(f"the input example's {name} value {value!r} {problem}")
    return problems


def model_contract_problems(
    run: TrackedRun, contract: Contract, promote: PromoteParams, data_version: str
) -> list[str]:
    """Everything the ML engineer needs from the run and does not get."""
    features = contract.feature_columns()
    types = {f.name: str(f.type) for f in contract.arrow_schema()}
    problems = [] if run.model_uri else [f"the run does not name its logged model (tag {MODEL_URI!r})"]
    names = [n for n, _ in run.signature]
    problems += [f"the signature lacks column {n!r}" for n in features if n not in names]
    problems += [
        f"the signature has column {n!r}, which is not a feature of the contract" for n in names if n not in features
    ]
    if set(names) == set(features) and names != features:
        problems.append(f"the signature orders the columns {names}, the contract {features}")
    problems += [
        f"the signature types column {n!r} as {t!r}, the contract as {types[n]!r}"
        for n, t in run.signature
        if n in types and t != types[n]
    ]
    problems += _example_problems(run.input_example, contract)

    gate_reads = sorted(metrics_the_gate_reads(promote))
    missing = [m for m in gate_reads if not math.isfinite(run.metrics.get(m, math.nan))]
    problems += [
        f"the run lacks the holdout metric {m!r} that the promotion gate reads (promote in params.yaml)"
        for m in missing
    ]
    if not missing:
        try:
            register.gate(run.metrics, None, promote)
            register.gate(run.metrics, run.metrics, promote)
        except Exception as exc:
            problems.append(f"the promotion gate cannot judge the run: {type(exc).__name__}: {exc}")

    threshold = run.tags.get(THRESHOLD)
    try:
        value = float(threshold) if threshold is not None else math.nan
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        problems.append(f"the run has no decision threshold in (0, 1) (tag {THRESHOLD!r} is {threshold!r})")
    elif {float(run.params.get("threshold", value)), float(run.metadata.get("threshold", value))} != {value}:
        problems.append(
            f"the threshold differs between tag ({threshold}), param ({run.params.get('threshold')}) and model "
            f"metadata ({run.metadata.get('threshold')})"
        )

    problems += [
        f"lineage tag {k!r} is {run.tags.get(k)!r}, not {v!r}"
        for k, v in tags_for("track").items()
        if run.tags.get(k) != v
    ]
    if run.tags.get(DATA_VERSION) != data_version:
        problems.append(
            f"lineage tag {DATA_VERSION!r} is {run.tags.get(DATA_VERSION)!r}, not the data version {data_version!r}"
        )
    if not run.tags.get(GIT_COMMIT):
        problems.append(f"the run has no lineage tag {GIT_COMMIT!r}")
    try:
        check_trigger(run.tags.get(TRIGGER, ""))
    except ValueError as exc:
        problems.append(f"lineage tag {TRIGGER!r}: {exc}")
    return problems


# The check itself, on runs built by hand --------------------------------------------------------------------------

PROMOTE = load_params(REPO / "params.yaml").promote
SOME_VERSION = "0123456789abcdef0123456789abcdef"


def well_formed(contract: Contract) -> TrackedRun:
    """A run carrying everything the model contract asks for (any finite metric value lets the gate judge)."""
    types = {f.name: str(f.type) for f in contract.arrow_schema()}
    return TrackedRun(
        model_uri="models:/m-by-hand",
        signature=tuple((n, types[n]) for n in contract.feature_columns()),
        input_example=pd.DataFrame([contract.example_record()]),
        metrics=dict.fromkeys(metrics_the_gate_reads(PROMOTE), 0.5),
        params={"threshold": "0.3"},
        tags={
            **tags_for("track"),
            DATA_VERSION: SOME_VERSION,
            GIT_COMMIT: "f" * 40,
            TRIGGER: "manual",
            THRESHOLD: "0.3",
        },
        metadata={"threshold": 0.3, "data_version": SOME_VERSION},
    )


def test_a_run_with_everything_passes(contract: Contract) -> None:
    MODEL.no_problems(model_contract_problems(well_formed(contract), contract, PROMOTE, SOME_VERSION))


Damage = Callable[[TrackedRun, Contract], tuple[TrackedRun, str]]


def _signature_lacks_a_feature(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    victim = contract.feature_columns()[len(contract.feature_columns()) // 2]
    kept = tuple(c for c in run.signature if c[0] != victim)
    return dataclasses.replace(run, signature=kept), f"the signature lacks column '{victim}'"


def _signature_mistypes_a_feature(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    victim = contract.numeric_features()[0]
    changed = tuple((n, "string" if n == victim else t) for n, t in run.signature)
    return dataclasses.replace(run, signature=changed), f"types column '{victim}' as 'string'"


def _no_input_example(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    return dataclasses.replace(run, input_example=None), "no input example"


def _example_breaks_the_contract(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    victim = next(n for n in contract.numeric_features() if contract.column(n).minimum is not None)
    example = run.input_example.assign(**{victim: float(contract.column(victim).minimum or 0) - 1})  # type: ignore[union-attr]
    return dataclasses.replace(run, input_example=example), f"input example's {victim} value .* is below min"


def _gate_metric_missing(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    metrics = {k: v for k, v in run.metrics.items() if k != PROMOTE.metric}
    return dataclasses.replace(run, metrics=metrics), f"lacks the holdout metric '{PROMOTE.metric}'"


def _no_threshold(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    tags = {k: v for k, v in run.tags.items() if k != THRESHOLD}
    return dataclasses.replace(run, tags=tags), "no decision threshold"


def _other_data_version(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    return dataclasses.replace(run, tags={**run.tags, DATA_VERSION: "f" * 32}), "not the data version"


def _no_owner(run: TrackedRun, contract: Contract) -> tuple[TrackedRun, str]:
    tags = {k: v for k, v in run.tags.items() if k != "relay.owner"}
    return dataclasses.replace(run, tags=tags), "lineage tag 'relay.owner' is None"


@pytest.mark.parametrize(
    "damage",
    [
        _signature_lacks_a_feature,
        _signature_mistypes_a_feature,
        _no_input_example,
        _example_breaks_the_contract,
        _gate_metric_missing,
        _no_threshold,
        _other_data_version,
        _no_owner,
    ],
    ids=lambda d: d.__name__.strip("_"),
)
def test_a_run_missing_something_is_caught(damage: Damage, contract: Contract) -> None:
    broken, says = damage(well_formed(contract), contract)
    with MODEL.breaks(match=says):
        MODEL.no_problems(model_contract_problems(broken, contract, PROMOTE, SOME_VERSION))


# A run the training flow made ------------------------------------------------------------------------------------


def read_tracked_run(run_id: str, scratch: Path) -> TrackedRun:
    """The run as the ML engineer gets it from MLflow: tags, metrics, params and the logged model."""
    import mlflow
    from mlflow.models import Model

    run = mlflow.MlflowClient().get_run(run_id)
    uri = run.data.tags.get(MODEL_URI)
    signature: tuple[tuple[str, str], ...] = ()
    example, metadata = None, {}
    if uri:
        info = mlflow.models.get_model_info(uri)
        if info.signature is not None:
            signature = tuple((c["name"], c["type"]) for c in info.signature.inputs.to_dict())
        metadata = dict(info.metadata or {})
        if info.saved_input_example_info:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(scratch))
            loaded = Model.load(local).load_input_example(local)
            example = loaded if isinstance(loaded, pd.DataFrame) else None
    return TrackedRun(
        model_uri=uri,
        signature=signature,
        input_example=example,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
        tags=dict(run.data.tags),
        metadata=metadata,
    )


@pytest.mark.integration
def test_the_track_stage_hands_over_a_run_the_ml_engineer_can_use(trained_workspace: Path, tmp_path: Path) -> None:
    import mlflow

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.settings import Settings
    from pipelines.data.version import data_version, stage_out_md5

    s = Settings(root=trained_workspace)
    configure_mlflow(s.tracking_uri)
    experiment = mlflow.get_experiment_by_name(s.experiment_name)
    assert experiment is not None, "the training flow made no experiment"
    # The run of the model DVC built, found as the track stage finds it: by the model's md5 in dvc.lock.
    md5 = stage_out_md5(trained_workspace, "train", "models")
    runs = mlflow.MlflowClient().search_runs([experiment.experiment_id], f"tags.`relay.model_md5` = '{md5}'")
    MODEL.check(len(runs) == 1, f"{len(runs)} runs record the model with md5 {md5}; the ML engineer needs one")
    tracked = read_tracked_run(runs[0].info.run_id, tmp_path)
    MODEL.no_problems(model_contract_problems(tracked, s.contract, s.params.promote, data_version(trained_workspace)))

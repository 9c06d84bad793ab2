"""Monitoring contract (MLOps engineer → data scientist): the monitor's decision and what retraining makes of it.

The decision is a typed model (`MonitorDecision` in `pipelines/core/handoffs.py`): the monitor builds it,
`decision.json` holds it, and the retraining rule (`pipelines/monitoring/retrain.py`) and flow read it back
through it, so a field one side does not have is a type error, not a missing key at run time. What the two
roles agreed on is its JSON schema, pinned in `tests/contracts/schemas/MonitorDecision.json`: renaming
`drifted_features` fails `make test-fast` here and names both roles. The retraining request quotes the
decision, and the training run it starts carries that reason as `relay.trigger_reason`, which is how the
data scientist learns why a model was retrained.

The integration tests run the monitor for real on a drifted week in a copy of a trained workspace and follow
its decision to the MLflow run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from pipelines.core.handoffs import HandoffError, MonitorDecision
from tests.contracts.handoff import guard
from tests.contracts.test_handoff_schemas import schema_problems
from tests.helpers import sample_decision

MONITORING = guard("monitoring contract")


def test_the_decision_keeps_the_schema_both_roles_agreed_on() -> None:
    MONITORING.no_problems(schema_problems(MonitorDecision))


def test_a_renamed_field_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the handbook's exercise does on purpose: the data scientist's side of the contract notices."""
    schema = MonitorDecision.model_json_schema(by_alias=True)
    schema["properties"]["drifted_columns"] = schema["properties"].pop("drifted_features")
    monkeypatch.setattr(MonitorDecision, "model_json_schema", classmethod(lambda cls, **_: schema))
    with MONITORING.breaks(match="drifted_features"):
        MONITORING.no_problems(schema_problems(MonitorDecision))


@pytest.mark.parametrize("field", sorted(MonitorDecision.model_json_schema(by_alias=True)["required"]))
def test_a_decision_file_without_a_field_is_refused_naming_it(field: str, tmp_path: Path) -> None:
    written = sample_decision(tmp_path / "report.html").to_json()
    del written[field]
    (tmp_path / "decision.json").write_text(json.dumps(written))
    with pytest.raises(HandoffError, match=rf"decision.json is not a MonitorDecision: {field}: Field required"):
        MonitorDecision.read(tmp_path / "decision.json")


def test_a_decision_round_trips_through_its_file(tmp_path: Path) -> None:
    decision = sample_decision(tmp_path / "report.html", drift=True, drifted_features=["brand"])
    assert MonitorDecision.read(decision.write(decision.path)) == decision


@dataclass(frozen=True)
class Monitored:
    settings: Any
    written: MonitorDecision  # what the monitoring flow's steps returned
    handed: MonitorDecision  # what the retraining flow reads back from decision.json


# Running the monitor and following its decision -------------------------------------------------------------------

WEEK, ROWS, DRIFT = 4, 2000, ("new_brand", "promotion")


@pytest.fixture(scope="module")
def monitored(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    """In a copy of the trained workspace: a drifted week served and logged, its labels landed, then the
    monitoring flow's own steps; returns the decision as the retraining flow reads it back."""
    from pipelines.core.prediction_log import PredictionLogWriter, now_utc
    from pipelines.core.settings import Settings
    from pipelines.data import ingest
    from pipelines.data.generator import batch_id, generate_batch
    from pipelines.flows import monitoring as flow
    from pipelines.flows.retraining import newest_decision

    tmp = tmp_path_factory.mktemp("monitored")
    ws = tmp / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    s = Settings(root=ws, prediction_log_url=f"sqlite:///{tmp}/log.db", monitoring_url=f"sqlite:///{tmp}/history.db")
    champion = flow.load_reference.fn(s)
    features = generate_batch(WEEK, ROWS, 42, DRIFT, with_label=False)[s.contract.feature_columns()]
    proba = champion.model.predict_proba(features)[:, 1]
    writer = PredictionLogWriter(s.prediction_log, s.contract)
    writer.log_predictions(
        cast(list[dict[str, Any]], features.astype(object).where(features.notna(), None).to_dict(orient="records")),
        proba.tolist(),
        (proba >= champion.threshold).tolist(),
        request_id=f"week-{WEEK}",
        ts=now_utc(),
        model_version=champion.version,
        latency_ms=1.0,
    )
    assert writer.close() == 0
    ingest.run(batch_id(WEEK), ingest.generator_chunks(WEEK, ROWS, 42, DRIFT), ingest.Landing.from_settings(s))
    # The body of monitoring_flow, step by step (the flow itself would also start Prefect, and may retrain).
    out_dir = flow._run_folder(s.reports_dir)
    decision = flow.drift_report.fn(s, champion, out_dir)
    decision = decision.model_copy(update={"model_quality": flow.model_quality.fn(s, champion, out_dir)})
    written = flow.record_history.fn(s, decision)
    handed = newest_decision(s)
    # The scenario, not the contract: a drifted week with its labels must be judged on both counts.
    assert handed.drift, f"the drifted week did not drift: {handed.drifted_features}"
    assert handed.model_quality is not None and handed.model_quality.status == "judged", handed.model_quality
    yield Monitored(s, written, handed)


@pytest.mark.integration
def test_what_the_monitor_wrote_is_what_retraining_reads(monitored: Monitored) -> None:
    handed = monitored.handed.model_copy(update={"history_id": monitored.written.history_id})
    MONITORING.check(handed == monitored.written, "decision.json does not read back as the decision the monitor made")


@pytest.mark.integration
def test_the_retraining_request_and_the_training_run_quote_the_decision(monitored: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from pipelines.flows.retraining import plan
    from pipelines.flows.training import track_run

    decision, s = monitored.handed, monitored.settings
    request = plan(s, decision)  # what the retraining flow would do about it, and why
    MONITORING.check(
        request.retrain, f"a drifted week with {request.labels} did not ask for retraining: {request.reason}"
    )
    reason = request.reason
    quoted = list(decision.drifted_features)
    quality = decision.model_quality
    if quality is not None and quality.dropped:
        quoted.append(f"{quality.value:.3f}")
    MONITORING.no_problems(
        f"the retraining reason does not quote {q!r} from the decision: {reason}" for q in quoted if q not in reason
    )
    # The training flow's own track task, in an experiment of its own: the workspace's model is tracked already.
    tracked = track_run.fn(
        s.model_copy(update={"experiment_name": f"{s.experiment_name}-retrained"}), request.trigger, reason
    )
    tags = MlflowClient().get_run(tracked.run_id).data.tags
    MONITORING.check(
        tags.get("relay.trigger") == request.trigger,
        f"the training run's relay.trigger is {tags.get('relay.trigger')!r}",
    )
    MONITORING.check(
        tags.get("relay.trigger_reason") == reason,
        f"the training run's relay.trigger_reason is {tags.get('relay.trigger_reason')!r}, not the reason {reason!r}",
    )

"""Service contract (ML engineer → MLOps engineer, backend developer): the prediction service's OpenAPI schema
and the prediction log.

The backend developer codes against the OpenAPI document: the predict routes take exactly the contract's features,
with their descriptions, ranges and allowed values, and document the 422 answer to a record that breaks them. The
MLOps engineer's monitor reads the prediction log: its table has the request id, time, model version, every
feature and the prediction, and the monitor's own query of it (one model version, a time window) returns every
column the drift monitor compares. A prediction made through the app lands there with the values sent and answered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest

from pipelines.core.contract import Column, Contract
from pipelines.core.prediction_log import META_COLUMNS, PredictionLogWriter, now_utc, read_window
from pipelines.data.generator import generate_batch
from tests.contracts.conftest import PREDICT, PREDICT_BATCH, request_schema, resolve, service_openapi
from tests.contracts.handoff import guard

SERVICE = guard("service contract")


# The OpenAPI document -------------------------------------------------------------------------------------------


def _field_problems(name: str, schema: dict[str, Any], col: Column) -> list[str]:
    variants = schema.get("anyOf", [schema])
    values = [v for v in variants if v.get("type") != "null"]
    takes_null = len(values) < len(variants)
    problems = []
    if takes_null != col.nullable:
        problems.append(
            f"field {name!r} {'accepts' if takes_null else 'refuses'} null; the contract's nullable is {col.nullable}"
        )
    if schema.get("description") != col.description:
        problems.append(f"field {name!r} is described as {schema.get('description')!r}, not as the contract says")
    if len(values) != 1:
        return [*problems, f"field {name!r} has {len(values)} schemas for its value"]
    value = values[0]
    if col.kind == "numeric":
        expected: dict[str, Any] = {"type": "number", "minimum": col.minimum, "maximum": col.maximum}
    elif col.allowed is not None:
        expected = {"type": "string", "enum": list(col.allowed)}
    else:
        expected = {"type": "string", "pattern": col.pattern}
    problems += [
        f"field {name!r} has {key} {value.get(key)!r}, the contract {want!r}"
        for key, want in expected.items()
        if value.get(key) != want
    ]
    return problems


def openapi_problems(spec: dict[str, Any], contract: Contract) -> list[str]:
    """What the backend developer would miss in the service's OpenAPI document."""
    features = contract.feature_columns()
    one = request_schema(spec, PREDICT)
    if one is None:
        return [f"the OpenAPI document has no POST {PREDICT} with a JSON body"]
    fields = one.get("properties", {})
    problems = [f"POST {PREDICT} lacks field {n!r}" for n in features if n not in fields]
    problems += [
        f"POST {PREDICT} has field {n!r}, which is not a feature of the contract" for n in fields if n not in features
    ]
    if sorted(one.get("required", [])) != sorted(features):
        problems.append(
            f"POST {PREDICT} requires {sorted(one.get('required', []))}, not every feature {sorted(features)}"
        )
    if one.get("additionalProperties") is not False:
        problems.append(f"POST {PREDICT} does not refuse fields outside the contract")
    for name in (n for n in features if n in fields):
        problems += _field_problems(name, fields[name], contract.column(name))
    batch = request_schema(spec, PREDICT_BATCH)
    records = (batch or {}).get("properties", {}).get("records", {})
    if batch is None or resolve(spec, records.get("items", {})) != one:
        problems.append(f"POST {PREDICT_BATCH} does not take a list of `records` shaped as POST {PREDICT}'s body")
    for path in (PREDICT, PREDICT_BATCH):
        answers = spec["paths"].get(path, {}).get("post", {}).get("responses", {})
        problems += [
            f"POST {path} does not document its {code} answer" for code in ("200", "422") if code not in answers
        ]
    return problems


def test_the_openapi_document_takes_the_contract_features(contract: Contract, tmp_path: Path) -> None:
    SERVICE.no_problems(openapi_problems(service_openapi(contract, tmp_path), contract))


def _without(contract: Contract, name: str) -> Contract:
    data = contract.model_dump(by_alias=True, exclude_none=True)
    del data["columns"][name]
    return Contract.model_validate(data)


def test_a_request_model_that_drops_a_feature_is_caught(
    contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.api.routes import predict

    victim = contract.feature_columns()[-1]
    built_from_the_contract = predict.request_models
    monkeypatch.setattr(predict, "request_models", lambda c, n=None: built_from_the_contract(_without(c, victim), n))
    with SERVICE.breaks(match=f"POST {PREDICT} lacks field '{victim}'"):
        SERVICE.no_problems(openapi_problems(service_openapi(contract, tmp_path), contract))


# The prediction log ---------------------------------------------------------------------------------------------


def monitor_reads(contract: Contract) -> list[str]:
    """The columns of a log window the drift monitor compares (its column mapping, prediction included)."""
    from pipelines.monitoring import drift

    numeric, categorical = drift._columns(contract)
    return numeric + categorical


def log_schema_problems(columns: Iterable[str], contract: Contract) -> list[str]:
    have = set(columns)
    problems = [
        f"the prediction log lacks column {c!r}, which the monitor reads"
        for c in monitor_reads(contract)
        if c not in have
    ]
    return problems + [
        f"the prediction log lacks column {c!r} (request id, time, model version, ...)"
        for c in META_COLUMNS
        if c not in have
    ]


def _same(a: Any, b: Any) -> bool:
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def window_problems(
    window: pd.DataFrame, sent: list[dict[str, Any]], answer: dict[str, Any], contract: Contract
) -> list[str]:
    """The logged rows of one answered request, as the monitor's query returns them, against what was sent."""
    problems = log_schema_problems(window.columns, contract)
    if problems:
        return problems
    request = answer["request_id"]
    rows = window[window["request_id"] == request].sort_values("id")
    if len(rows) != len(sent):
        return [
            f"the monitor's query of the log returns {len(rows)} rows of request {request}; {len(sent)} were answered"
        ]
    probabilities = [p["probability"] for p in answer["predictions"]]
    for i, (record, (_, row)) in enumerate(zip(sent, rows.iterrows(), strict=True)):
        problems += [
            f"row {i} of request {request}: {name} logged as {row[name]!r}, sent as {record[name]!r}"
            for name in contract.feature_columns()
            if not _same(row[name], record[name])
        ]
        if not _same(row["prediction"], probabilities[i]):
            problems.append(
                f"row {i} of request {request}: prediction logged {row['prediction']}, answered {probabilities[i]}"
            )
        if str(row["model_version"]) != str(answer["model_version"]):
            problems.append(
                f"row {i}: model version logged {row['model_version']!r}, answered {answer['model_version']!r}"
            )
    return problems


def some_records(contract: Contract, rows: int, batch: int = 7) -> list[dict[str, Any]]:
    """Request bodies: generator rows, the contract's features only, JSON null for a missing value."""
    frame = generate_batch(batch, rows, with_label=False)[contract.feature_columns()]
    return cast(list[dict[str, Any]], frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


def log_table_columns(contract: Contract, folder: Path) -> list[str]:
    """The columns of the table the service's log writer creates in a new store."""
    import sqlalchemy as sa

    from pipelines.core.prediction_log import TABLE, engine_for, ensure_table

    engine = engine_for(f"sqlite:///{folder}/log.db")
    try:
        ensure_table(engine, contract)
        return [c["name"] for c in sa.inspect(engine).get_columns(TABLE)]
    finally:
        engine.dispose()


def test_the_log_table_has_what_the_monitor_reads(contract: Contract, tmp_path: Path) -> None:
    SERVICE.no_problems(log_schema_problems(log_table_columns(contract, tmp_path), contract))


def test_a_log_that_drops_a_feature_is_caught(
    contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log's table built from an older contract: the monitor would find the column missing at its next run."""
    from pipelines.core import prediction_log

    victim = contract.numeric_features()[0]
    from_the_contract = prediction_log._table
    monkeypatch.setattr(prediction_log, "_table", lambda metadata, c: from_the_contract(metadata, _without(c, victim)))
    with SERVICE.breaks(match=f"lacks column '{victim}', which the monitor reads"):
        SERVICE.no_problems(log_schema_problems(log_table_columns(contract, tmp_path), contract))


@pytest.mark.slow
def test_logged_predictions_reach_the_monitor_with_every_column(contract: Contract, tmp_path: Path) -> None:
    """The writer the service uses, read back with the monitor's own query (one model version, a time window)."""
    url = f"sqlite:///{tmp_path}/log.db"
    records = some_records(contract, 40)
    answer: dict[str, Any] = {
        "request_id": "contract-test",
        "model_version": "7",
        "predictions": [{"probability": round(i / len(records), 6)} for i in range(len(records))],
    }
    since = now_utc() - timedelta(minutes=1)
    writer = PredictionLogWriter(url, contract)
    writer.log_predictions(
        records,
        [p["probability"] for p in answer["predictions"]],
        [False] * len(records),
        request_id=answer["request_id"],
        ts=now_utc(),
        model_version=answer["model_version"],
        latency_ms=1.0,
    )
    SERVICE.check(writer.close() == 0, f"the prediction log lost {writer.failed} rows")
    window = read_window(url, contract, 1000, model_version=answer["model_version"], since=since)
    SERVICE.no_problems(window_problems(window, records, answer, contract))


@pytest.mark.integration
def test_a_prediction_through_the_app_lands_in_the_log_for_the_monitor(trained_workspace: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from pipelines.core.settings import Settings
    from services.api.main import create_app

    s = Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{tmp_path}/log.db")
    records = some_records(s.contract, 6)
    since = now_utc() - timedelta(minutes=1)
    with TestClient(create_app(s)) as client:
        SERVICE.no_problems(openapi_problems(client.get("/openapi.json").json(), s.contract))
        one = client.post(PREDICT, json=records[0])
        many = client.post(PREDICT_BATCH, json={"records": records[1:]})
        for path, r in ((PREDICT, one), (PREDICT_BATCH, many)):
            SERVICE.check(r.status_code == 200, f"POST {path} answered {r.status_code}: {r.text[:300]}")
        client.app.state.prediction_log.close()  # type: ignore[attr-defined]
    version = one.json()["model_version"]
    window = read_window(s.prediction_log, s.contract, 1000, model_version=version, since=since)
    SERVICE.no_problems(window_problems(window, records[:1], one.json(), s.contract))
    SERVICE.no_problems(window_problems(window, records[1:], many.json(), s.contract))

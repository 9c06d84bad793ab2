"""What the MLflow and Open Inference protocol routes share (the protocols part; owner: ML engineer).

Each protocol only translates: its body into the contract's records, and Relay's answer into its own shape.
Between the two, every protocol takes the path `/v1` takes: the records are checked against the data contract
with the very validator of `/v1` (a number must be a number, not `true` or `"49.9"`; only the contract's
features, every one of them), then scored by the micro-batcher and written to the prediction log with the
protocol's name, under the request's id, counted in the metrics (`predict.score`). A refusal is a
`ProtocolError`: an HTTP status and one line, which the protocol writes in its own error shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from pydantic import TypeAdapter, ValidationError

from pipelines.core.contract import Contract
from pipelines.core.prediction_log import PredictionLogError
from pipelines.core.settings import Settings
from services.api.deps import ScoringDep
from services.api.model_store import LoadedModel
from services.api.routes.predict import score
from services.api.schemas import request_models


def include_routes(app: FastAPI, s: Settings) -> dict[str, Any]:
    """Add both protocols' routes to the app; returns the schemas of their bodies for the OpenAPI document."""
    from services.api.routes import mlflow_protocol, open_inference  # they import this module

    app.include_router(mlflow_protocol.build_router(s.contract, s.max_batch_size))
    app.include_router(open_inference.build_router(s.contract, s.max_batch_size, s.model_name, app.version))
    # The guard's refusals (a missing API key, a body too large, an unhandled error) in each protocol's shape.
    app.state.error_shapes = {"/invocations": mlflow_protocol.error_body, "/v2/": open_inference.error_body}
    return mlflow_protocol.openapi_components(s.contract, s.max_batch_size) | open_inference.openapi_components()


# How many of a request's problems an error names before it says how many more there are.
SHOWN = 5


class ProtocolError(Exception):
    """A request refused: the HTTP status, and a one-line reason the protocol puts in its error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Records:
    """The contract's records as `/v1` takes them, for a protocol that hands them over row by row."""

    def __init__(self, contract: Contract, max_records: int) -> None:
        # `/v1`'s batch body, whose records are validated as `/v1` validates them.
        _, batch = request_models(contract)
        self.features = contract.feature_columns()
        self.max_records = max_records
        self._validator: TypeAdapter[dict[str, list[dict[str, Any]]]] = TypeAdapter(batch)
        # Data frames and tensors write a missing number as NaN, as JSON writes it as null. Where the contract lets
        # a number be missing, NaN means exactly that; everywhere else it is refused, as `/v1` refuses it.
        self.missing_as_nan = [
            n for n in self.features if contract.column(n).kind == "numeric" and contract.column(n).nullable
        ]

    def check(self, records: list[Any], where: Callable[[int, str], str]) -> list[dict[str, Any]]:
        """The records, validated; or a 400 naming each problem with `where(record index, feature)`."""
        if not records:
            raise ProtocolError(400, "no records to score")
        if len(records) > self.max_records:
            raise ProtocolError(
                400, f"{len(records)} records; at most {self.max_records} per request (RELAY_MAX_BATCH_SIZE)"
            )
        for record in records:
            for name in self.missing_as_nan:
                value = record.get(name) if isinstance(record, dict) else None
                if isinstance(value, float) and math.isnan(value):
                    record[name] = None
        try:
            return self._validator.validate_python({"records": records})["records"]
        except ValidationError as exc:
            raise ProtocolError(400, describe(exc, where)) from None


def describe(exc: ValidationError, where: Callable[[int, str], str] | None = None) -> str:
    """Every problem in one line; a record's feature is named the protocol's way, by `where(index, feature)`."""
    problems = []
    for e in exc.errors(include_url=False):
        loc = e["loc"][1:] if e["loc"][:1] == ("records",) else e["loc"]
        if where is not None and loc and isinstance(loc[0], int):
            place = where(loc[0], str(loc[1])) if len(loc) > 1 else f"record {loc[0]}"
        else:
            place = ".".join(str(part) for part in loc) or "body"
        problems.append(f"{place}: {e['msg']}")
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more


async def scored(
    records: list[dict[str, Any]], scoring: ScoringDep, request: Request, protocol: str
) -> tuple[str, LoadedModel, np.ndarray, list[Any]]:
    """`/v1`'s scoring path; its refusals (no champion yet, durable log not committed) as `ProtocolError`s."""
    try:
        return await score(records, scoring, request, protocol)
    except HTTPException as exc:
        raise ProtocolError(exc.status_code, str(exc.detail)) from None
    except PredictionLogError as exc:
        raise ProtocolError(503, str(exc)) from None

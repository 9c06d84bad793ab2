"""MLflow's scoring protocol on the prediction service (the protocols part; owner: ML engineer).

What `mlflow models serve` answers (mlflow/pyfunc/scoring_server), so that MLflow's own `ScoringServerClient`,
MLServer's MLflow runtime and every MLflow tutorial's request work against Relay unchanged:

- `GET /ping` and `/health`: 200 with a newline when a champion serves (MLflow's 404 otherwise); `GET /version`:
  the MLflow version, as plain text under MLflow's `application/json`.
- `POST /invocations`: JSON with exactly one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`
  (and optionally `params`, which a scikit-learn model ignores, as MLflow does), or `text/csv` with a header
  row. The answer is `{"predictions": ...}` with what the champion's pyfunc returns: the class probabilities
  (`predict_proba`, one row per record) of a classifier, the values of a regressor, unrounded.
- Refusals in MLflow's shape, `{"error_code": "BAD_REQUEST", "message": ...}` with 400, and its 415 in plain
  text for a content type or charset it does not take.

The records then take `/v1`'s path: its validation, batching, logging (protocol `mlflow`) and metrics.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from pydantic_core import from_json, to_json

from pipelines.core.contract import Contract
from services.api.deps import ScoringDep
from services.api.protocols import ProtocolError, Records, scored

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv")
# MLflow's error codes for the statuses this route answers with (mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS).
# 413 has no code of its own in MLflow (it never limits a body): its nearest, REQUEST_LIMIT_EXCEEDED.
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "ENDPOINT_NOT_FOUND",
    413: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}
JSON = "application/json"


class MLflowError(BaseModel):
    """MLflow's error body (MlflowException.serialize_as_json)."""

    error_code: str = Field(..., examples=["BAD_REQUEST"])
    message: str


class MLflowPredictions(BaseModel):
    predictions: list[Any] = Field(
        ...,
        description="Per record, what the champion's MLflow pyfunc answers: a classifier's class probabilities, "
        "one per label by its code (binary: negative, positive); a regressor's value.",
    )


def error_body(status: int, message: str) -> dict[str, str]:
    """MLflow's error shape; the service's guard answers its refusals (401, 413, 500) on this route with it too."""
    return {"error_code": ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}


def _error(status: int, message: str) -> Response:
    return Response(to_json(error_body(status, message)), status_code=status, media_type=JSON)


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain")


def _records(payload: Any) -> list[Any]:
    """The records of a JSON body in any of MLflow's four forms."""
    if not isinstance(payload, dict):
        raise ProtocolError(400, f"the input must be a JSON object with exactly one of the fields {list(FORMATS)}")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        raise ProtocolError(400, f"the input must have exactly one of the fields {list(FORMATS)}; it has {given}")
    data = payload[given[0]]
    if given[0] in ("dataframe_records", "instances") or (given[0] == "inputs" and isinstance(data, list)):
        if not isinstance(data, list):
            raise ProtocolError(400, f"{given[0]} must be a list of records")
        return data
    if given[0] == "inputs":  # columns: {"price": [49.9, 20.0], ...}
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ProtocolError(400, "inputs must be a list of records or an object of equally long columns")
        return _rows(list(data), list(zip(*data.values(), strict=False)), {len(v) for v in data.values()})
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("columns"), list)
        or not isinstance(data.get("data"), list)
    ):
        raise ProtocolError(400, 'dataframe_split must be an object with "columns" and "data" (the "index" is ignored)')
    rows = data["data"]
    if not all(isinstance(row, list) for row in rows):
        raise ProtocolError(400, "each row of dataframe_split's data must be a list of values")
    return _rows(data["columns"], rows, {len(row) for row in rows} | {len(data["columns"])})


def _rows(columns: list[Any], rows: list[Any], lengths: set[int]) -> list[dict[str, Any]]:
    if len(lengths) > 1:
        raise ProtocolError(400, f"the columns and rows are not all of one length (lengths {sorted(lengths)})")
    if not all(isinstance(c, str) for c in columns):
        raise ProtocolError(400, "column names must be strings")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _csv_records(body: bytes, numeric: set[str]) -> list[dict[str, Any]]:
    """A CSV with a header row; numbers read for the contract's numeric features, an empty field as missing. A
    value that is not a number stays text, so that the validator names it."""
    try:
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ProtocolError(400, f"could not read the CSV: {exc}") from None
    if not rows:
        raise ProtocolError(400, "the CSV is empty; it needs a header row naming the features")
    header, records = rows[0], list[dict[str, Any]]()
    for row in rows[1:]:
        if len(row) != len(header):
            raise ProtocolError(400, f"CSV line {len(records) + 2} has {len(row)} fields; the header has {len(header)}")
        records.append({name: _cell(value, name in numeric) for name, value in zip(header, row, strict=True)})
    return records


def _cell(value: str, numeric: bool) -> Any:
    if value == "":
        return None
    if numeric:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _content_type(header: str | None) -> str:
    """The media type, or a 415 as MLflow gives it (only UTF-8, no parameters but charset)."""
    mime, *parameters = [part.strip() for part in (header or "").split(";")]
    pairs = dict(p.partition("=")[::2] for p in parameters if p)
    if pairs.get("charset", "utf-8").lower() != "utf-8":
        raise ProtocolError(415, "The scoring server only supports UTF-8")
    if set(pairs) - {"charset"} or mime not in CONTENT_TYPES:
        raise ProtocolError(
            415, f"This predictor only supports the following content types: {list(CONTENT_TYPES)}. Got '{header}'."
        )
    return mime


def _documented_body() -> dict[str, Any]:
    json_body = {"$ref": "#/components/schemas/MLflowInvocation"}
    csv_body = {"type": "string", "description": "CSV with a header row of the contract's features"}
    content = {JSON: {"schema": json_body}, "text/csv": {"schema": csv_body}}
    return {"requestBody": {"required": True, "content": content}}


def build_router(contract: Contract, max_batch_size: int) -> APIRouter:
    records = Records(contract, max_batch_size)
    numeric = set(contract.numeric_features())
    router = APIRouter(tags=["MLflow scoring protocol"])
    # The module, not the distribution: the API image installs MLflow as `mlflow-skinny`.
    from mlflow.version import VERSION as MLFLOW_VERSION

    async def ping(request: Request) -> Response:
        serving = request.app.state.models.current is not None and not request.app.state.prediction_log.problem
        return Response("\n", status_code=200 if serving else 404, media_type=JSON)

    for path in ("/ping", "/health"):
        router.add_api_route(
            path,
            ping,
            methods=["GET"],
            summary="MLflow's health check: 200 when a champion serves and the log is reachable, else 404",
            response_class=Response,
        )

    @router.get("/version", summary="The MLflow version whose scoring protocol this speaks", response_class=Response)
    async def mlflow_version_text() -> Response:
        # MLflow's own quirk, kept for its clients: plain text under a JSON media type.
        return Response(MLFLOW_VERSION, media_type=JSON)

    @router.post(
        "/invocations",
        response_model=MLflowPredictions,
        summary="Score records sent as MLflow's scoring server takes them",
        openapi_extra=_documented_body(),
        responses={
            400: {"model": MLflowError, "description": "The body breaks MLflow's protocol or the data contract"},
            401: {"model": MLflowError, "description": "RELAY_API_KEY is set and the request did not send it"},
            413: {"model": MLflowError, "description": "The body is over RELAY_MAX_BODY_BYTES"},
            415: {"description": "A content type other than application/json or text/csv, or a charset but UTF-8"},
            503: {"model": MLflowError, "description": "No champion model is loaded yet"},
        },
    )
    async def invocations(request: Request, scoring: ScoringDep) -> Response:
        try:
            mime = _content_type(request.headers.get("content-type"))
            body = await request.body()
            if mime == "text/csv":
                given = _csv_records(body, numeric)
            else:
                try:
                    given = _records(from_json(body))
                except ValueError as exc:
                    raise ProtocolError(400, f"the body is not valid JSON: {exc}") from None
            valid = records.check(given, lambda i, name: f"record {i}, {name}")
            _, _, out, _ = await scored(valid, scoring, request, "mlflow")
        except ProtocolError as exc:
            return _plain(exc.status, str(exc)) if exc.status == 415 else _error(exc.status, str(exc))
        return Response(to_json({"predictions": out.tolist()}), media_type=JSON)

    return router


def openapi_components(contract: Contract, max_batch_size: int) -> dict[str, Any]:
    """The `/invocations` JSON body: one of MLflow's four forms, the records shaped as `/v1`'s `Features`."""
    records = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Features"},
        "minItems": 1,
        "maxItems": max_batch_size,
    }
    params = {"type": "object", "description": "Passed to the model by MLflow; a scikit-learn model ignores them."}
    columns = {"type": "array", "items": {"type": "string", "enum": contract.feature_columns()}}
    split = {
        "type": "object",
        "properties": {
            "columns": columns,
            "data": {"type": "array", "items": {"type": "array"}},
            "index": {"type": "array"},
        },
        "required": ["columns", "data"],
    }
    by_column = {"type": "object", "additionalProperties": {"type": "array"}, "description": "feature -> its values"}
    forms = {
        "dataframe_split": split,
        "dataframe_records": records,
        "instances": records,
        "inputs": {"anyOf": [records, by_column]},
    }
    variants = [
        {
            "type": "object",
            "properties": {key: schema, "params": params},
            "required": [key],
            "additionalProperties": False,
        }
        for key, schema in forms.items()
    ]
    example = {"dataframe_records": [contract.example_record()]}
    return {"MLflowInvocation": {"oneOf": variants, "examples": [example]}}

"""The Open Inference Protocol v2, REST, on the prediction service (the protocols part; owner: ML engineer).

The protocol of KServe, Triton, Seldon MLServer and OpenVINO (kserve/open-inference-protocol,
specification/protocol/inference_rest.md), so that their clients (`tritonclient.http`, KServe's
`InferenceRESTClient`) score against Relay:

- `GET /v2` (server metadata), `/v2/health/live`, `/v2/health/ready`;
- `GET /v2/models/{name}[/versions/{version}]`: the model's metadata, one input tensor per feature of the data
  contract (`FP64` for a number, `BYTES` for a category or level; shape `[-1]`) and its output tensors;
- `GET /v2/models/{name}[/versions/{version}]/ready`;
- `POST /v2/models/{name}[/versions/{version}]/infer`: one input tensor per feature, all of one length (shape
  `[n]` or `[n, 1]`, data flat or nested), as JSON or in Triton's binary tensor extension (what `tritonclient`
  sends by default). The outputs follow the task: binary, `probability` (of the positive label) and `label`
  (decided at the champion's threshold); multiclass, `probability_<class>` for each class and `label`;
  regression, `value`. `outputs` in the request picks some of them.

The name is the registered model's; a version is the champion's version only (the one being served); anything
else is 404, as KServe answers an unknown model. A request's `id` comes back in the answer; when the request
has no `X-Request-ID` header and its `id` is a plain token, it becomes the request's id in the prediction log,
so `relay lineage <id>` follows it. Errors are `{"error": "..."}`: 400 for a bad request, 404, 503 while no
champion is loaded. The records then take `/v1`'s path: its validation (a tensor's values must be what the
contract says: numbers for a number), batching, logging (protocol `open-inference`) and metrics.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import to_json

from pipelines.core.contract import Contract
from services.api.deps import ScoringDep
from services.api.model_store import LoadedModel
from services.api.observability import CLIENT_ID
from services.api.protocols import ProtocolError, Records, describe, scored

# The protocol's tensor data types and how each is laid out in Triton's binary tensor extension (little-endian).
LAYOUT = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "",
}
NUMBERS = frozenset(LAYOUT) - {"BOOL", "BYTES"}
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"
]
Parameters = dict[str, str | bool | int | float]
Tensor = tuple[Datatype, list[Any]]  # an output's data type and values
# Triton's extension: the JSON header is this long, and binary tensors follow it in the order of the inputs.
HEADER_LENGTH = "inference-header-content-length"
JSON = "application/json"


class MetadataTensor(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int] = Field(..., description="-1 for a dimension of any size (the records).")


class ServerMetadataResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelMetadataResponse(BaseModel):
    name: str
    versions: list[str] = Field(..., description="The champion's version; none while no champion is loaded.")
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    properties: dict[str, str] = Field(default_factory=dict, description="The task and (binary) the threshold.")


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool


class ServerLiveResponse(BaseModel):
    live: bool


class ServerReadyResponse(BaseModel):
    ready: bool


class InferenceErrorResponse(BaseModel):
    error: str


class RequestInput(BaseModel):
    name: str
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Datatype
    parameters: Parameters | None = None
    data: list[Any] | None = Field(None, description="Row-major, flat or nested; absent for binary data.")


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(..., min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: Parameters | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


def error_body(status: int, message: str) -> dict[str, str]:
    """The protocol's error shape (any status); the service's guard answers its refusals on `/v2` with it too."""
    return {"error": message}


def _error(status: int, message: str) -> Response:
    return Response(to_json(error_body(status, message)), status_code=status, media_type=JSON)


class Tensors:
    """The data contract as the protocol's tensors: the inputs a request sends, the outputs it gets."""

    def __init__(self, contract: Contract, max_batch_size: int) -> None:
        self.records = Records(contract, max_batch_size)
        self.task = contract.task
        self.labels = contract.labels
        self.inputs: dict[str, Datatype] = {
            n: "FP64" if contract.column(n).kind == "numeric" else "BYTES" for n in contract.feature_columns()
        }
        # Levels coded as whole numbers are taken as numbers too, as `/v1` takes them.
        self.coded = {n for n in self.inputs if contract.column(n).integer_codes}
        labels = {type(label) for label in self.labels}
        self.label_type: Datatype = "BOOL" if labels == {bool} else "INT64" if labels == {int} else "BYTES"
        number: Datatype = "FP64"
        self.outputs = {"value": number}
        if self.task != "regression":
            names = ["probability"] if self.task == "binary" else [f"probability_{c}" for c in self.labels]
            self.outputs = dict.fromkeys(names, number) | {"label": self.label_type}

    def metadata(self) -> tuple[list[MetadataTensor], list[MetadataTensor]]:
        def tensors(kinds: dict[str, Datatype]) -> list[MetadataTensor]:
            return [MetadataTensor(name=n, datatype=d, shape=[-1]) for n, d in kinds.items()]

        return tensors(self.inputs), tensors(self.outputs)

    def records_of(self, request: InferenceRequest, binary: bytes) -> list[dict[str, Any]]:
        """One record per row of the input tensors, checked against the contract."""
        columns: dict[str, list[Any]] = {}
        blobs = _blobs(request, binary)
        for tensor in request.inputs:
            if tensor.name not in self.inputs:
                raise ProtocolError(400, f"unexpected input {tensor.name!r}; the inputs are {list(self.inputs)}")
            if tensor.name in columns:
                raise ProtocolError(400, f"input {tensor.name!r} is given twice")
            columns[tensor.name] = self._values(tensor, blobs)
        missing = [n for n in self.inputs if n not in columns]
        if missing:
            raise ProtocolError(400, f"missing inputs {missing}: the model takes one tensor per feature")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ProtocolError(400, f"the inputs are not all of one length ({sorted(lengths)})")
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        return self.records.check(rows, lambda i, name: f"input {name!r} element {i}")

    def _values(self, tensor: RequestInput, blobs: Iterator[bytes]) -> list[Any]:
        allowed = (
            NUMBERS
            if self.inputs[tensor.name] == "FP64"
            else {"BYTES"} | (NUMBERS if tensor.name in self.coded else set())
        )
        if tensor.datatype not in allowed:
            raise ProtocolError(400, f"input {tensor.name!r} is {tensor.datatype}; it takes {sorted(allowed)}")
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise ProtocolError(400, f"input {tensor.name!r} has shape {tensor.shape}; it takes [n] or [n, 1]")
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is not None:
            values = _decode(tensor.datatype, next(blobs, b""), tensor.name)
        elif tensor.data is not None:
            values = list(_flat(tensor.data))
        else:
            raise ProtocolError(400, f"input {tensor.name!r} has neither data nor binary_data_size")
        if len(values) != math.prod(tensor.shape):
            raise ProtocolError(400, f"input {tensor.name!r} has {len(values)} values for shape {tensor.shape}")
        return values

    def outputs_of(self, out: np.ndarray, answers: list[Any]) -> dict[str, Tensor]:
        """Each output tensor's data type and values, unrounded (`/v1` rounds to six digits). The label is the one
        `/v1` decides (binary: at the champion's threshold)."""
        if self.task == "regression":
            return {"value": ("FP64", out.tolist())}
        columns = [1] if self.task == "binary" else range(len(self.labels))
        found: dict[str, Tensor] = {
            n: ("FP64", out[:, k].tolist()) for n, k in zip(self.outputs, columns, strict=False)
        }
        return found | {"label": (self.label_type, [a["label"] for a in answers])}


def _flat(data: list[Any]) -> Iterator[Any]:
    for value in data:
        if isinstance(value, list):
            yield from _flat(value)
        else:
            yield value


def _blobs(request: InferenceRequest, data: bytes) -> Iterator[bytes]:
    """The binary tensors after the JSON header, in the order of the inputs that declare a binary_data_size."""
    offset = 0
    for tensor in request.inputs:
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(data):
            raise ProtocolError(400, f"input {tensor.name!r}: binary_data_size {size!r} does not fit the body")
        yield data[offset : offset + size]
        offset += size


def _decode(datatype: str, blob: bytes, name: str) -> list[Any]:
    """A tensor's values from its bytes in Triton's binary extension."""
    if datatype != "BYTES":
        dtype = np.dtype(LAYOUT[datatype])
        if len(blob) % dtype.itemsize:
            raise ProtocolError(400, f"input {name!r}: {len(blob)} bytes is no whole number of {datatype} values")
        return list(np.frombuffer(blob, dtype=dtype).tolist())
    values, offset = [], 0
    while offset < len(blob):  # each element: its length as 4 bytes, little-endian, then its UTF-8 bytes
        length = int.from_bytes(blob[offset : offset + 4], "little")
        try:
            values.append(blob[offset + 4 : offset + 4 + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(400, f"input {name!r}: element {len(values)} is not UTF-8 text") from None
        offset += 4 + length
    if offset != len(blob):
        raise ProtocolError(400, f"input {name!r}: the BYTES tensor's lengths do not add up to its size")
    return values


def _encode(datatype: str, values: list[Any]) -> bytes:
    if datatype != "BYTES":
        return np.asarray(values, dtype=LAYOUT[datatype]).tobytes()
    return b"".join(len(b).to_bytes(4, "little") + b for b in (str(v).encode() for v in values))


def _answer(asked: InferenceRequest, request_id: str, model: LoadedModel, tensors: dict[str, Tensor]) -> Response:
    """The inference response; outputs in Triton's binary extension where the request asks for them (the whole
    request's `binary_data_output`, or an output's own `binary_data`)."""
    requested = {o.name: o for o in asked.outputs or []}
    everything_binary = bool((asked.parameters or {}).get("binary_data_output", False))
    outputs, blobs = [], []
    for name in requested or tensors:
        datatype, values = tensors[name]
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [len(values)]}
        parameters = requested[name].parameters or {} if name in requested else {}
        if parameters.get("binary_data", everything_binary):
            blobs.append(_encode(datatype, values))
            output["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            output["data"] = values
        outputs.append(output)
    answer = {
        "model_name": model.name,
        "model_version": model.version,
        "id": asked.id or request_id,
        "outputs": outputs,
    }
    body = to_json(answer)
    if not blobs:
        return Response(body, media_type=JSON)
    headers = {"Inference-Header-Content-Length": str(len(body))}
    return Response(body + b"".join(blobs), media_type="application/octet-stream", headers=headers)


def _documented_body() -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/InferenceRequest"}
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema}}}}


class _Model:
    """What the model routes answer, for the model registered as `name` and the champion the store holds."""

    def __init__(self, contract: Contract, max_batch_size: int, name: str) -> None:
        self.tensors = Tensors(contract, max_batch_size)
        self.name = name
        self.parse: TypeAdapter[InferenceRequest] = TypeAdapter(InferenceRequest)

    def served(self, request: Request, name: str, wanted: str | None) -> LoadedModel | None:
        """The champion, None while there is none; a name or version not served here is a 404."""
        if name != self.name:
            raise ProtocolError(404, f"model {name!r} is not served here; this service serves {self.name!r}")
        current: LoadedModel | None = request.app.state.models.current
        if wanted is not None and (current is None or current.version != wanted):
            now = f"version {current.version}" if current else "not loaded yet"
            raise ProtocolError(404, f"version {wanted!r} of {name!r} is not served here; the champion is {now}")
        return current

    async def metadata(self, request: Request, scoring: ScoringDep, name: str, wanted: str | None) -> Response:
        current = self.served(request, name, wanted)
        inputs, outputs = self.tensors.metadata()
        properties: dict[str, str] = {"task": self.tensors.task}
        if current is not None and current.threshold is not None:
            properties["threshold"] = str(current.threshold)
        answer = ModelMetadataResponse(
            name=name,
            versions=[current.version] if current else [],
            platform="sklearn_mlflow",
            inputs=inputs,
            outputs=outputs,
            properties=properties,
        )
        return Response(answer.model_dump_json(), media_type=JSON)

    async def ready(self, request: Request, scoring: ScoringDep, name: str, wanted: str | None) -> Response:
        ready = self.served(request, name, wanted) is not None
        return Response(to_json({"name": name, "ready": ready}), status_code=200 if ready else 503, media_type=JSON)

    async def infer(self, request: Request, scoring: ScoringDep, name: str, wanted: str | None) -> Response:
        self.served(request, name, wanted)
        body = await request.body()
        header = request.headers.get(HEADER_LENGTH)
        cut = int(header) if header and header.isdigit() else len(body)
        try:
            asked = self.parse.validate_json(body[:cut])
        except ValidationError as exc:
            raise ProtocolError(400, describe(exc)) from None
        unknown = [o.name for o in asked.outputs or [] if o.name not in self.tensors.outputs]
        if unknown:
            raise ProtocolError(400, f"unknown outputs {unknown}; the outputs are {list(self.tensors.outputs)}")
        records = self.tensors.records_of(asked, body[cut:])
        if asked.id and "x-request-id" not in request.headers and CLIENT_ID.match(asked.id):
            request.state.request_id = asked.id  # the protocol's own id names the request in the log and lineage
        request_id, model, out, answers = await scored(records, scoring, request, "open-inference")
        return _answer(asked, request_id, model, self.tensors.outputs_of(out, answers))


def build_router(contract: Contract, max_batch_size: int, model_name: str, server_version: str) -> APIRouter:
    """The protocol's routes, for the model registered as `model_name`."""
    model = _Model(contract, max_batch_size, model_name)
    server = ServerMetadataResponse(name="relay", version=server_version, extensions=["binary_tensor_data"])
    router = APIRouter(prefix="/v2", tags=["Open Inference Protocol v2"])

    @router.get("", response_model=ServerMetadataResponse, summary="Server metadata")
    async def server_metadata() -> ServerMetadataResponse:
        return server

    # The specification's OpenAPI file writes the path with a slash: answered too, rather than redirected.
    router.add_api_route("/", server_metadata, methods=["GET"], include_in_schema=False)

    @router.get("/health/live", response_model=ServerLiveResponse, summary="The server is live")
    async def live() -> ServerLiveResponse:
        return ServerLiveResponse(live=True)

    @router.get(
        "/health/ready",
        response_model=ServerReadyResponse,
        summary="The champion is loaded and predictions reach the prediction log (as /health/ready)",
        responses={503: {"model": InferenceErrorResponse, "description": "Not ready; `error` says why"}},
    )
    async def ready(request: Request) -> Response:
        store = request.app.state.models
        log_problem = request.app.state.prediction_log.problem
        problem = (store.last_error or "model loading") if store.current is None else log_problem
        body = {"ready": False, "error": problem} if problem else {"ready": True}
        return Response(to_json(body), status_code=503 if problem else 200, media_type=JSON)

    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": InferenceErrorResponse, "description": "The request breaks the protocol or the data contract"},
        401: {"model": InferenceErrorResponse, "description": "RELAY_API_KEY is set and the request did not send it"},
        404: {"model": InferenceErrorResponse, "description": "No such model, or a version that is not the champion's"},
        503: {"model": InferenceErrorResponse, "description": "No champion model is loaded yet"},
    }
    too_large = {413: {"model": InferenceErrorResponse, "description": "The body is over RELAY_MAX_BODY_BYTES"}}
    routes: list[tuple[str, Handler, str, type[BaseModel], str]] = [
        ("", model.metadata, "GET", ModelMetadataResponse, "Model metadata: inputs from the data contract"),
        ("/ready", model.ready, "GET", ModelReadyResponse, "The model is loaded and ready to score"),
        ("/infer", model.infer, "POST", InferenceResponse, "Score records sent as one input tensor per feature"),
    ]
    for suffix, handler, method, answer, summary in routes:
        body = _documented_body() if method == "POST" else None
        answers = errors | (too_large if method == "POST" else {})
        for path, endpoint in _both_paths(suffix, handler):
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                response_model=answer,
                summary=summary,
                responses=answers,
                openapi_extra=body,
            )
    return router


Handler = Callable[[Request, Any, str, "str | None"], Awaitable[Response]]


def _both_paths(suffix: str, handler: Handler) -> list[tuple[str, Callable[..., Awaitable[Response]]]]:
    """A route with the model's name only (the champion answers) and one with a version too; a `ProtocolError`
    is answered as the protocol's error object."""

    async def champion(request: Request, scoring: ScoringDep, model_name: str) -> Response:
        try:
            return await handler(request, scoring, model_name, None)
        except ProtocolError as exc:
            return _error(exc.status, str(exc))

    async def versioned(request: Request, scoring: ScoringDep, model_name: str, model_version: str) -> Response:
        try:
            return await handler(request, scoring, model_name, model_version)
        except ProtocolError as exc:
            return _error(exc.status, str(exc))

    base = "/models/{model_name}"
    return [(f"{base}{suffix}", champion), (f"{base}/versions/{{model_version}}{suffix}", versioned)]


def openapi_components() -> dict[str, Any]:
    """The request body's schemas (the route reads the body itself, to take Triton's binary extension too)."""
    schema = TypeAdapter(InferenceRequest).json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["InferenceRequest"] = schema
    return components

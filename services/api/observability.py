"""What the service tells its operators (owner: ML engineer): Prometheus metrics, JSON logs with request ids,
and the guards every request passes (body size, API key, no stack traces in responses).

Each app gets its own metrics registry, so two apps in one process (tests, or a user embedding the
service) never share counters.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The routes that score or describe the model, which need the API key when one is set; probes, metrics and docs
# stay open.
PROTECTED: tuple[str, ...] = ("/v1/",)
PROTECTED += ("/invocations", "/v2/models/")  # part:protocols
log = logging.getLogger("relay.api")


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "relay_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        seconds = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
        self.latency = Histogram(
            "relay_http_request_duration_seconds", "Request latency by route", ["route"], buckets=seconds, registry=r
        )
        self.predictions = Counter(
            "relay_predictions",
            "Records scored, by model version and outcome (binary: flagged true/false; multiclass: the class)",
            ["model_version", "outcome"],
            registry=r,
        )
        tenths = tuple(i / 10 for i in range(1, 11))
        self.probability = BatchHistogram(
            "relay_prediction_probability", "Distribution of predicted probabilities", buckets=tenths, registry=r
        )
        records = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
        self.batch_records = Histogram(
            "relay_batch_records", "Records per model call (micro-batching at work)", buckets=records, registry=r
        )
        self.model_version = Gauge(
            "relay_model_info", "The model being served (value 1)", ["model_name", "version"], registry=r
        )
        # part:containers:begin
        from services.api.log_metrics import PredictionLogMetrics

        self.prediction_log = PredictionLogMetrics(r)
        # part:containers:end

    def on_batch(self, requests: int, records: int, seconds: float) -> None:
        self.batch_records.observe(records)

    def serving(self, model_name: str, version: str | None) -> None:
        self.model_version.clear()
        if version is not None:
            self.model_version.labels(model_name, version).set(1)


class BatchHistogram(Collector):
    """A Prometheus histogram observed a whole array at a time.

    prometheus-client's `Histogram.observe` takes one value per call under a lock; for the probabilities
    of a 1,000-record batch that was about 1 ms on the request path. This keeps the bucket counts in a
    numpy array and exposes them in the same exposition format.
    """

    def __init__(self, name: str, documentation: str, *, buckets: tuple[float, ...], registry: CollectorRegistry):
        self.name, self.documentation = name, documentation
        self._upper = np.asarray(buckets, dtype=float)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last bucket is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        # Prometheus buckets are "less than or equal": a value on a bound belongs to that bound's bucket.
        counts = np.bincount(np.searchsorted(self._upper, values, side="left"), minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(np.sum(values))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative, total = np.cumsum(self._counts), self._sum
        bounds = [floatToGoString(b) for b in self._upper] + ["+Inf"]
        buckets = [(b, float(c)) for b, c in zip(bounds, cumulative, strict=True)]
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being handled (or "-")."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A logging dictConfig for uvicorn and Relay's loggers: JSON lines, or plain text for a terminal."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            name: {"handlers": ["default"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "relay")
        },
    }


class Guard:
    """Pure ASGI middleware around every HTTP request.

    - gives the request an id (the caller's `X-Request-ID` if it is a sane token, else a new one), echoed in
      the response and carried by every log line;
    - refuses bodies over `max_body_bytes` with 413, by Content-Length or while streaming;
    - asks for the API key, when one is set, on the routes that score or describe the model (`PROTECTED`; 401
      without it);
    - turns any unhandled error into a 500 with the request id and no stack trace (the trace goes to the log);
    - counts requests and their latency by route for Prometheus.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, api_key: str | None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if CLIENT_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                message["headers"] = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                # From the scope: a protocol whose body names the request (Open Inference's `id`) may adopt it.
                message["headers"].append((b"x-request-id", scope["state"]["request_id"].encode()))
            await send(message)

        async def answer(code: int, detail: str) -> None:
            # Relay's shape, or the shape of the protocol the route speaks (`app.state.error_shapes`, by path).
            body: Any = {"detail": detail, "request_id": request_id}
            shapes = getattr(getattr(scope.get("app"), "state", None), "error_shapes", {})  # part:protocols
            shape = next((f for p, f in shapes.items() if scope["path"].startswith(p)), None)  # part:protocols
            body = shape(code, detail) if shape else body  # part:protocols
            await JSONResponse(body, code)(scope, receive, send_with_id)

        try:
            problem = self._refuse(scope["path"], headers)
            if problem is not None:
                await self._read_body(receive)  # read and dropped, so the client reads the answer
                await answer(*problem)
                return
            body = await self._read_body(receive)
            if body is None:
                await answer(413, f"request body over {self.max_body_bytes} bytes")
                return
            await self.app(scope, _replay(body, receive), send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope["path"])
            if not status["sent"]:
                await answer(500, "internal error")
        finally:
            # The route template (`/v1/predict`), not the raw path, so metrics have few labels; unknown paths pool.
            route = str(getattr(scope.get("route"), "path", "<unmatched>"))
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(route, scope.get("method", ""), str(status["code"])).inc()
            REQUEST_ID.reset(token)

    def _refuse(self, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, f"request body over {self.max_body_bytes} bytes"
        if self.api_key and path.startswith(PROTECTED):
            given = headers.get("x-api-key", "")
            if not given and headers.get("authorization", "").lower().startswith("bearer "):
                given = headers["authorization"][7:]
            if not secrets.compare_digest(given.encode(), self.api_key.encode()):
                return 401, "missing or wrong API key (send it as X-API-Key or Authorization: Bearer)"
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None when it passes the limit (chunked uploads have no Content-Length). A refused
        body is still read, and dropped, up to DRAIN_BYTES: a client that sends all of it before reading the
        answer (Python's urllib, say) then gets the 413 instead of a reset connection."""
        chunks, size = [], 0
        while size <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks) if size <= self.max_body_bytes else None


DRAIN_BYTES = 64 * 1024 * 1024  # a refused body is read this far; beyond it the connection just closes


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the app the body already read, then the real channel (for the disconnect message)."""
    first: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def wrapped() -> Message:
        return first.pop() if first else await receive()

    return wrapped

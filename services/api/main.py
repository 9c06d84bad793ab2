"""Serve (owner: ML engineer): the prediction service.

Takes `models:/<name>@champion` from the MLflow registry (never training code); hands over a FastAPI
service whose every prediction goes to the prediction log. Start it with `relay serve` or `make serve`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from pipelines.core.ownership import stage
from pipelines.core.settings import Settings, get_settings

log = logging.getLogger("relay.api")


@stage("serve")
def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the lifespan loads the champion, starts the poller and the log writer."""
    from fastapi_offline import FastAPIOffline

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.prediction_log import PredictionLogWriter
    from services.api.batcher import MicroBatcher
    from services.api.model_store import ModelStore
    from services.api.observability import Guard, Metrics
    from services.api.routes import health, model, predict
    from services.api.routes.metrics import router as metrics_router

    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No registry there yet, or unreachable: start anyway, not ready. The refresh below logs why, the
        # poller keeps trying, and /health/ready says why meanwhile.
        with contextlib.suppress(OSError):
            configure_mlflow(s.tracking_uri)
        app.state.settings = s
        durable, hold = s.prediction_log_ack == "durable", s.prediction_log_hold_rows
        app.state.prediction_log = PredictionLogWriter(s.prediction_log, s.contract, durable=durable, hold_rows=hold)
        app.state.models = store = ModelStore(s.model_name, s.reload_interval_s, s.tracking_uri, s.contract)
        store.refresh()
        if store.current is None:
            log.warning("starting without a model: %s", store.last_error)
            store.prepare_loader()
        store.start_polling()
        app.state.batcher = batcher = MicroBatcher(
            lambda: store.current,
            max_records=s.batch_max_records,
            max_wait_ms=s.batch_max_wait_ms,
            threads=s.inference_threads,
            on_batch=app.state.metrics.on_batch,
        )
        batcher.start()
        # Everything loaded so far (MLflow, scikit-learn, the model: some 370,000 objects) lives as long as the
        # process. Frozen, the garbage collector stops rescanning it on every full collection.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            # Requests already accepted are scored and logged before the log is closed.
            await batcher.stop()
            store.stop()
            lost = app.state.prediction_log.close()
            if not lost:
                log.info("prediction log flushed: %d rows written", app.state.prediction_log.written)

    # fastapi-offline serves /docs and /redoc from local assets, so the API docs work without internet access.
    app = FastAPIOffline(
        title=f"Relay prediction service: {s.model_name}",
        version="1",
        summary=f"Scores records of the data contract for `{s.contract.target}` (owner: ML engineer).",
        description=s.contract.description,
        lifespan=lifespan,
    )
    app.state.metrics = metrics = Metrics()
    if s.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    # Added last, so it runs first: every request, including CORS preflights and refusals, gets an id.
    app.add_middleware(
        Guard,
        metrics=metrics,
        max_body_bytes=s.max_body_bytes,
        api_key=s.api_key.get_secret_value() if s.api_key else None,
    )
    _validation_errors_as_json(app)
    _unlogged_predictions_as_503(app)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(model.router)
    app.include_router(predict.build_router(s.contract, s.max_batch_size))
    _with_components(app, predict.openapi_components(s.contract, s.max_batch_size))
    # part:protocols:begin
    # The same records, through the same validation, batching, log and metrics, in the protocols clients already
    # speak: MLflow's scoring server and the Open Inference Protocol v2 (docs/serving.md).
    from services.api.protocols import include_routes

    _with_components(app, include_routes(app, s))
    # part:protocols:end
    return app


def _with_components(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Add schemas that routes reference but FastAPI cannot see (bodies the routes read themselves)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _unlogged_predictions_as_503(app: FastAPI) -> None:
    """RELAY_PREDICTION_LOG_ACK=durable: a prediction whose rows could not be committed is not answered."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from pipelines.core.prediction_log import PredictionLogError

    @app.exception_handler(PredictionLogError)
    async def unlogged(request: Request, exc: PredictionLogError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})


def _validation_errors_as_json(app: FastAPI) -> None:
    """422 answers that can always be written: the rejected input is echoed, and JSON cannot hold NaN or
    Infinity, so those are echoed as text (FastAPI's default handler would fail with a 500)."""
    import math

    from fastapi import Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": finite(jsonable_encoder(exc.errors()))})

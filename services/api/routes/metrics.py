"""`/metrics`: Prometheus exposition of the service's own registry."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    m = request.app.state.metrics
    store = request.app.state.models
    # The model gauge is read at scrape time, so it always matches what /v1/model reports.
    m.serving(store.model_name, store.current.version if store.current else None)
    m.prediction_log.writer = request.app.state.prediction_log  # part:containers
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

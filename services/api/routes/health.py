from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.deps import StoreDep

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="A champion model is loaded and serving, and predictions reach the prediction log",
    responses={503: {"description": "Not ready"}},
)
async def ready(store: StoreDep, request: Request) -> JSONResponse:
    if store.current is None:
        return JSONResponse({"status": "not ready", "reason": store.last_error or "model loading"}, status_code=503)
    if problem := request.app.state.prediction_log.problem:
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready", "model_version": store.current.version})

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException

from services.api.deps import StoreDep
from services.api.model_store import ModelStore
from services.api.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", response_model=ModelInfo, summary="The model being served")
async def model_info(store: StoreDep) -> ModelInfo:
    return _info(store)


@router.post(
    "/model/reload",
    response_model=ModelInfo,
    summary="Load the registry's champion now",
    description=(
        "Called by the promotion step and by `relay model rollback` (RELAY_SERVICE_URLS), so a new champion "
        "is served at once instead of at the next poll. The model loads off the event loop and is swapped in "
        "atomically; requests in flight keep the model they started with. When the champion cannot be loaded "
        "(no registry, registry unreachable, no champion, a load error) the answer is 503 with the reason, the "
        "model served before (if any) stays, and `GET /v1/model` reports the reason in `last_reload_error`."
    ),
    responses={503: {"description": "The champion could not be loaded; `detail` says why"}},
)
async def reload_model(store: StoreDep) -> ModelInfo:
    error = await asyncio.to_thread(store.refresh)
    if error:
        raise HTTPException(503, detail=error)
    return _info(store)


def _info(store: ModelStore) -> ModelInfo:
    m = store.current
    return ModelInfo(
        name=store.model_name,
        version=m.version if m else None,
        data_version=m.data_version if m else None,
        run_id=m.run_id if m else None,
        task=store.task,
        threshold=m.threshold if m else None,
        loaded_at=m.loaded_at.isoformat() if m else None,
        last_reload_error=store.last_error,
    )

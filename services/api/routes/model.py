from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import StoreDep
from services.api.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", response_model=ModelInfo, summary="The model being served")
def model_info(store: StoreDep) -> ModelInfo:
    m = store.current
    return ModelInfo(
        name=store.model_name,
        version=m.version if m else None,
        data_version=m.data_version if m else None,
        run_id=m.run_id if m else None,
        threshold=m.threshold if m else None,
        loaded_at=m.loaded_at.isoformat() if m else None,
        last_reload_error=store.last_error,
    )

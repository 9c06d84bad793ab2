"""Typed dependencies for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from pipelines.prediction_log import PredictionLogWriter
from pipelines.settings import Settings
from services.api.model_store import LoadedModel, ModelStore


def get_store(request: Request) -> ModelStore:
    store: ModelStore = request.app.state.models
    return store


def get_model(store: Annotated[ModelStore, Depends(get_store)]) -> LoadedModel:
    current = store.current
    if current is None:
        raise HTTPException(503, detail=store.last_error or "model not loaded yet")
    return current


def get_log(request: Request) -> PredictionLogWriter:
    writer: PredictionLogWriter = request.app.state.prediction_log
    return writer


def get_app_settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


StoreDep = Annotated[ModelStore, Depends(get_store)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
LogDep = Annotated[PredictionLogWriter, Depends(get_log)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

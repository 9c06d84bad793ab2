"""Typed dependencies for the routes.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool, which on the
prediction path cost more per request than everything else the route does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pipelines.core.prediction_log import PredictionLogWriter
from services.api.batcher import MicroBatcher
from services.api.model_store import ModelStore


async def get_store(request: Request) -> ModelStore:
    store: ModelStore = request.app.state.models
    return store


@dataclass(frozen=True)
class Scoring:
    """What a prediction route needs: the batcher that scores, the store that says if a model is loaded,
    and the prediction log."""

    batcher: MicroBatcher
    store: ModelStore
    log: PredictionLogWriter


async def get_scoring(request: Request) -> Scoring:
    state = request.app.state
    return Scoring(state.batcher, state.models, state.prediction_log)


StoreDep = Annotated[ModelStore, Depends(get_store)]
ScoringDep = Annotated[Scoring, Depends(get_scoring)]

"""Request and response models. The request model is generated from the data contract, so the API
accepts exactly the features the model was trained on, with the same types, ranges and allowed values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines import contract


def _field(c: contract.Column) -> tuple[Any, Any]:
    if c.kind == "numeric":
        return float, Field(..., ge=c.minimum, le=c.maximum, description=c.description, examples=[c.example])
    if c.allowed is not None:
        return Literal[c.allowed], Field(..., description=c.description, examples=[c.example])
    return str, Field(..., pattern=c.pattern, description=c.description, examples=[c.example])


OrderFeatures: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "OrderFeatures",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [contract.example_record()]}),
    **{c.name: _field(c) for c in contract.COLUMNS if c.is_feature},
)


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"records": [contract.example_record()]}]}
    )
    records: list[OrderFeatures] = Field(..., min_length=1)


class Prediction(BaseModel):
    return_probability: float = Field(..., description="Probability that the order is returned for fit.")
    flagged: bool = Field(..., description="True when the probability reaches the model's decision threshold.")


class PredictionResponse(BaseModel):
    request_id: str
    model_name: str
    model_version: str
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    name: str
    version: str | None
    data_version: str | None
    run_id: str | None
    threshold: float | None
    loaded_at: str | None
    last_reload_error: str | None

"""Request and response models. The request model is generated from the data contract, so the API
accepts exactly the features the model was trained on, with the same types, ranges and allowed values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines.contract import Column, Contract


def _field(c: Column) -> tuple[Any, Any]:
    kind: Any
    if c.kind == "numeric":
        kind = float
        # NaN and Infinity are not numbers a customer can have; JSON parsers accept them, the model must not.
        field = Field(
            ..., ge=c.minimum, le=c.maximum, allow_inf_nan=False, description=c.description, examples=[c.example]
        )
    elif c.allowed is not None:
        kind, field = Literal[c.allowed], Field(..., description=c.description, examples=[c.example])
    else:
        kind, field = str, Field(..., pattern=c.pattern, description=c.description, examples=[c.example])
    # A nullable column may be sent as null (the model treats it as missing), but it must be sent.
    return (kind | None if c.nullable else kind), field


def request_models(contract: Contract, max_batch: int | None = None) -> tuple[type[BaseModel], type[BaseModel]]:
    """The request models for one record and for a batch (at most `max_batch` records, stated in the
    OpenAPI schema): exactly the contract's feature columns."""
    example = contract.example_record()
    features: type[BaseModel] = create_model(  # type: ignore[call-overload]
        "Features",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        **{name: _field(contract.column(name)) for name in contract.feature_columns()},
    )
    batch: type[BaseModel] = create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [{"records": [example]}]}),
        records=(list[features], Field(..., min_length=1, max_length=max_batch)),
    )
    return features, batch


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

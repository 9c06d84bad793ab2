"""Request and response models. The request model is generated from the data contract, so the API
accepts exactly the features the model was trained on, with the same types, ranges and allowed values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, create_model
from typing_extensions import TypedDict

from pipelines.core.contract import Column, Contract, Task


def _field(c: Column) -> Any:
    kind: Any
    if c.kind == "numeric":
        # Strict: a JSON number only; `true` is not 1.0 and "49.9" is text (ingest refuses both alike for a
        # Parquet column of numbers). Whole numbers are numbers too.
        kind = Annotated[float, Strict()]
        # NaN and Infinity are not numbers a customer can have; JSON parsers accept them, the model must not.
        field = Field(ge=c.minimum, le=c.maximum, allow_inf_nan=False, description=c.description, examples=[c.example])
    elif c.allowed is not None:
        kind, field = Literal[c.allowed], Field(description=c.description, examples=[c.example])
        if c.integer_codes:
            codes = tuple(int(v) for v in c.allowed)
            # Levels coded as integers ("1".."4") land from CSV and Parquet alike, so the API takes them as JSON
            # numbers too, and hands the model the text it was trained on.
            kind = Annotated[Literal[c.allowed] | Literal[codes], BeforeValidator(_not_bool), AfterValidator(str)]
    else:
        kind, field = str, Field(pattern=c.pattern, description=c.description, examples=[c.example])
    # A nullable column may be sent as null (the model treats it as missing), but it must be sent.
    return Annotated[kind | None if c.nullable else kind, field]


def _not_bool(value: Any) -> Any:
    # JSON true would otherwise pass as the code 1; ingest refuses it too.
    if isinstance(value, bool):
        raise ValueError("a level is text or a whole number, not true or false")
    return value


def request_models(contract: Contract, max_batch: int | None = None) -> tuple[Any, Any]:
    """The request bodies for one record and for a batch (at most `max_batch` records, stated in the
    OpenAPI schema): exactly the contract's feature columns, every one required, nothing else allowed.

    They are TypedDicts rather than models: validation hands back the plain dicts the model is fed. For a
    1,000-record batch, validating the JSON into dicts took 1.4 ms; into models, then `model_dump()`, 5.1 ms.
    """
    example = contract.example_record()
    # Made at run time from the contract, so typed as Any: mypy checks only literal TypedDict definitions.
    make: Any = TypedDict
    features: Any = make("Features", {name: _field(contract.column(name)) for name in contract.feature_columns()})
    features.__pydantic_config__ = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})
    batch: Any = make("BatchRequest", {"records": Annotated[list[features], Field(min_length=1, max_length=max_batch)]})
    batch.__pydantic_config__ = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"records": [example]}]})
    return features, batch


class Prediction(BaseModel):
    """A binary model's answer for one record."""

    probability: float = Field(..., description="Probability of the target's positive label (contract.yaml).")
    flagged: bool = Field(..., description="True when the probability reaches the model's decision threshold.")
    label: str | int | bool = Field(
        ..., description="The label decided: the target's positive label when flagged, else its negative label."
    )


class ClassPrediction(BaseModel):
    """A multiclass model's answer for one record."""

    label: str = Field(..., description="The most probable class (one of the target's `allowed` in contract.yaml).")
    probabilities: dict[str, float] = Field(..., description="Each class's probability; they sum to 1.")


class ValuePrediction(BaseModel):
    """A regression model's answer for one record."""

    value: float = Field(..., description="The predicted value of the target (contract.yaml).")


ANSWERS: dict[Task, type[BaseModel]] = {
    "binary": Prediction,
    "multiclass": ClassPrediction,
    "regression": ValuePrediction,
}


class FieldError(BaseModel):
    loc: list[str | int] = Field(..., description='Where the problem is, e.g. ["body", "records", 3, "price"].')
    msg: str
    type: str


class ValidationProblem(BaseModel):
    detail: list[FieldError] = Field(..., description="Every failing field, not only the first.")


class Problem(BaseModel):
    detail: str


class PredictionResponse(BaseModel):
    request_id: str
    model_name: str
    model_version: str
    predictions: list[Any]


def response_model(task: Task) -> type[PredictionResponse]:
    """The response of the prediction routes for the contract's task, so the OpenAPI schema says which answer
    a client gets: a binary, a multiclass or a regression one."""
    answer: Any = ANSWERS[task]
    return create_model("PredictionResponse", __base__=PredictionResponse, predictions=(list[answer], ...))


class ModelInfo(BaseModel):
    name: str
    version: str | None
    data_version: str | None
    run_id: str | None
    task: str
    threshold: float | None
    loaded_at: str | None
    last_reload_error: str | None

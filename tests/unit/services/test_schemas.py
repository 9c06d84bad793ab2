from __future__ import annotations

import json
import typing

import pytest
from pydantic import TypeAdapter, ValidationError

from pipelines.core.contract import Task
from services.api.schemas import request_models, response_model
from tests.helpers import ORDERS

OrderFeatures, BatchRequest = request_models(ORDERS, max_batch=3)
ONE: TypeAdapter[dict[str, object]] = TypeAdapter(OrderFeatures)
MANY: TypeAdapter[dict[str, object]] = TypeAdapter(BatchRequest)


def test_request_model_is_the_contract() -> None:
    assert list(typing.get_type_hints(OrderFeatures)) == ORDERS.feature_columns()
    assert ONE.validate_python(ORDERS.example_record()) == ORDERS.example_record()


def test_every_bad_field_is_named() -> None:
    bad = ORDERS.example_record() | {"usual_size": "XXXL", "price": -1, "brand": "Not A Slug"}
    with pytest.raises(ValidationError) as info:
        ONE.validate_python(bad)
    assert {e["loc"][0] for e in info.value.errors()} == {"usual_size", "price", "brand"}


def test_unknown_and_missing_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="colour"):
        ONE.validate_python(ORDERS.example_record() | {"colour": "red"})
    record = ORDERS.example_record()
    del record["price"]
    with pytest.raises(ValidationError, match="price"):
        ONE.validate_python(record)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(value: str) -> None:
    body = json.dumps(ORDERS.example_record()).replace('"price": 49.9', f'"price": {value}')
    assert value in body
    with pytest.raises(ValidationError, match="price"):
        ONE.validate_json(body)


def test_batch_bounds() -> None:
    with pytest.raises(ValidationError):
        MANY.validate_python({"records": []})
    with pytest.raises(ValidationError, match="at most 3"):
        MANY.validate_python({"records": [ORDERS.example_record()] * 4})


def test_schema_carries_the_contract_example() -> None:
    schema = ONE.json_schema()
    assert schema["additionalProperties"] is False
    assert schema["examples"] == [ORDERS.example_record()]
    assert set(schema["required"]) == set(ORDERS.feature_columns())


ANSWERS = {
    "binary": {"probability": 0.25, "flagged": False, "label": "no"},
    "multiclass": {"label": "barolo", "probabilities": {"barolo": 0.7, "barbera": 0.3}},
    "regression": {"value": 151.5},
}


@pytest.mark.parametrize("task", list(ANSWERS))
def test_response_shape_is_the_declared_model(task: Task) -> None:
    # The route writes its answer from plain lists for speed; this is the shape it must keep, per task.
    answer = {"request_id": "abc", "model_name": "m", "model_version": "1", "predictions": [ANSWERS[task]]}
    declared = response_model(task)
    assert declared.model_validate(answer).model_dump() == answer
    other = next(t for t in ANSWERS if t != task)
    with pytest.raises(ValidationError):
        declared.model_validate(answer | {"predictions": [ANSWERS[other]]})
    assert answer_name(task) in declared.model_json_schema()["$defs"]


def answer_name(task: Task) -> str:
    return {"binary": "Prediction", "multiclass": "ClassPrediction", "regression": "ValuePrediction"}[task]


@pytest.mark.parametrize(
    ("field", "value"),
    [("discount", False), ("price", True), ("price", "49.9"), ("customer_height_cm", "171")],
)
def test_a_number_must_be_a_json_number(field: str, value: object) -> None:
    """Issue 21: true scored as 1.0 and "49.9" as 49.9; the schema says `type: number`, so both are refused."""
    with pytest.raises(ValidationError, match=field):
        ONE.validate_json(json.dumps(ORDERS.example_record() | {field: value}))
    assert ONE.validate_json(json.dumps(ORDERS.example_record() | {"price": 50}))["price"] == 50.0

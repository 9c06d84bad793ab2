from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.api.schemas import request_models
from tests.helpers import ORDERS

OrderFeatures, BatchRequest = request_models(ORDERS)


def test_request_model_is_the_contract() -> None:
    assert list(OrderFeatures.model_fields) == ORDERS.feature_columns()
    OrderFeatures.model_validate(ORDERS.example_record())


def test_every_bad_field_is_named() -> None:
    bad = ORDERS.example_record() | {"usual_size": "XXXL", "price": -1, "brand": "Not A Slug"}
    with pytest.raises(ValidationError) as info:
        OrderFeatures.model_validate(bad)
    assert {e["loc"][0] for e in info.value.errors()} == {"usual_size", "price", "brand"}


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="colour"):
        OrderFeatures.model_validate(ORDERS.example_record() | {"colour": "red"})


def test_empty_batch_is_rejected() -> None:
    with pytest.raises(ValidationError):
        BatchRequest.model_validate({"records": []})

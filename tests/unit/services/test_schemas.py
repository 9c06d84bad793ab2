from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines import contract
from services.api.schemas import BatchRequest, OrderFeatures


def test_request_model_is_the_contract() -> None:
    assert list(OrderFeatures.model_fields) == contract.feature_columns()
    OrderFeatures.model_validate(contract.example_record())


def test_every_bad_field_is_named() -> None:
    bad = contract.example_record() | {"usual_size": "XXXL", "price": -1, "brand": "Not A Slug"}
    with pytest.raises(ValidationError) as info:
        OrderFeatures.model_validate(bad)
    assert {e["loc"][0] for e in info.value.errors()} == {"usual_size", "price", "brand"}


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="colour"):
        OrderFeatures.model_validate(contract.example_record() | {"colour": "red"})


def test_empty_batch_is_rejected() -> None:
    with pytest.raises(ValidationError):
        BatchRequest.model_validate({"records": []})

"""The training split's MLflow dataset record: the schema from a sample must be the one MLflow infers from all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.data.pandas_dataset import from_pandas

from pipelines.training.track import SCHEMA_ROWS, training_dataset


def _awkward_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    size = rng.choice(["S", "M", "L", None], rows)
    return pd.DataFrame(
        {
            "order_id": np.arange(rows) // 2,  # repeated ids
            "returned": rng.choice(["yes", "no"], rows),  # a yes/no label
            "size": pd.array(size, dtype="string"),  # text with nulls
            "store": rng.integers(1, 40, rows).astype(str),  # numbers coded as text
            "price": np.where(rng.random(rows) < 0.1, np.nan, rng.gamma(2, 30, rows)),
            "ordered_at": pd.date_range("2026-01-01", periods=rows, freq="min"),
            "flag": rng.random(rows) < 0.5,
        }
    )


@pytest.mark.slow
def test_the_sampled_schema_is_the_one_mlflow_infers_from_every_row() -> None:
    train = _awkward_frame(SCHEMA_ROWS * 5)
    ours = training_dataset(train, "data/dataset/train", "shop-train", "returned", "abcd1234")
    theirs = from_pandas(train, source="data/dataset/train", name="shop-train", targets="returned", digest="abcd1234")
    assert ours.schema == theirs.schema
    assert ours.to_dict() == theirs.to_dict()
    assert ours.profile == {"num_rows": len(train), "num_elements": train.size}

"""The production-like prediction log: the same code against the PostgreSQL server on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from pipelines.prediction_log import PredictionLogWriter, now_utc, read_request, read_window
from tests.helpers import ORDERS
from tests.unit.services.test_prediction_log import rows

pytestmark = pytest.mark.integration
SERVER = os.environ.get("RELAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture
def database() -> Iterator[str]:
    """A throw-away database, dropped afterwards."""
    name = f"relay_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_prediction_log_on_postgresql(database: str) -> None:
    writer = PredictionLogWriter(database, ORDERS, batch_size=100)
    writer.log(rows(250, "3"))
    assert writer.close() == 0
    window = read_window(database, ORDERS, 1000, model_version="3")
    assert len(window) == 250 and window["ts"].dt.tz is not None


def test_request_rows_on_postgresql_keep_their_values(database: str) -> None:
    """The service's path: one request's records, predictions and shared columns, built by the writer."""
    records = [ORDERS.example_record() | {"price": 10.0 + i} for i in range(30)]
    writer = PredictionLogWriter(database, ORDERS)
    ts = now_utc()
    preds = [i / 100 for i in range(30)]
    flags = [i % 2 == 0 for i in range(30)]
    writer.log_predictions(records, preds, flags, request_id="req-1", ts=ts, model_version="4", latency_ms=2.5)
    assert writer.close() == 0 and writer.written == 30
    got = read_request(database, "req-1")
    assert got["price"].tolist() == [r["price"] for r in records]
    assert got["prediction"].tolist() == preds and got["flagged"].tolist() == flags
    assert set(got["model_version"]) == {"4"} and got["ts"].iloc[0] == pd.Timestamp(ts)

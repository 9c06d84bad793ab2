"""The production-like prediction log: the same code against the PostgreSQL server on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pipelines.prediction_log import PredictionLogWriter, read_window
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

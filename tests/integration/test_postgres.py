"""The production-like stores on the PostgreSQL server on 127.0.0.1: the prediction log and the monitoring history."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pipelines.core.prediction_log import PredictionLogWriter, now_utc, read_window
from tests.helpers import ORDERS
from tests.unit.services.test_prediction_log import log, rows

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
    log(writer, rows(250, "3"))
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
    got = read_window(database, ORDERS, 1000)  # the whole log: this request's rows, in order
    assert got["price"].tolist() == [r["price"] for r in records]
    assert got["prediction"].tolist() == preds and got["flagged"].tolist() == flags
    assert set(got["model_version"]) == {"4"} and got["ts"].iloc[0] == pd.Timestamp(ts)


def test_monitoring_history_on_postgresql(database: str, tmp_path: Path) -> None:
    """RELAY_MONITORING_URL=postgresql://...: an older table is upgraded in place, runs get ids, and a
    retraining note lands on its own run even when two runs share a second."""
    from pipelines.monitoring import history
    from tests.unit.monitoring.test_history import decision

    reports = tmp_path / "monitoring"
    history.record(decision(reports, "20261120T100000Z", False, []), database, reports)
    engine = sa.create_engine(database)
    with engine.begin() as conn:  # the table as the first release wrote it
        conn.execute(sa.text("ALTER TABLE monitoring_runs DROP COLUMN model_quality, DROP COLUMN retraining"))
    engine.dispose()
    first = history.record(decision(reports, "20261121T100000Z", True, ["brand"]), database, reports).run_id
    second = history.record(decision(reports, "20261121T100000Z", False, []), database, reports).run_id
    history.note_retraining(first, "v3 trained and promoted", database, reports)
    runs = history.read(database).set_index("id")
    assert list(runs.index) == [second, first, first - 1]
    assert runs.loc[first, "retraining"] == "v3 trained and promoted" and pd.isna(runs.loc[second, "retraining"])


def test_replicas_starting_together_both_get_the_table(database: str) -> None:
    """Two API replicas create the prediction log's table at the same moment: neither may fail."""
    from concurrent.futures import ThreadPoolExecutor

    from pipelines.core.prediction_log import engine_for, ensure_table

    for _ in range(5):
        engines = [engine_for(database) for _ in range(4)]
        try:
            with ThreadPoolExecutor(4) as pool:
                tables = list(pool.map(lambda e: ensure_table(e, ORDERS), engines))
            assert all(t.name == "predictions" for t in tables)
        finally:
            for e in engines:
                e.dispose()
        drop = sa.create_engine(database)
        with drop.begin() as conn:
            conn.execute(sa.text("DROP TABLE predictions"))
        drop.dispose()

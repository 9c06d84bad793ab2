"""The prediction log (service contract, ML engineer → MLOps engineer): one row per prediction.

The service writes it off the request path in batches; the drift monitor reads a window of it. Columns:
request id, time, model version, every feature of the data contract, the predicted probability, the
decision and the latency. The store is any SQLAlchemy URL: SQLite by default, PostgreSQL in production.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from pipelines.contract import Contract

log = logging.getLogger("relay.prediction_log")
TABLE = "predictions"
META_COLUMNS = ("request_id", "ts", "model_version", "prediction", "flagged", "latency_ms")


def _table(metadata: sa.MetaData, contract: Contract) -> sa.Table:
    cols: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False, index=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("model_version", sa.String(32), nullable=False),
    ]
    for name in contract.feature_columns():
        kind = contract.column(name).kind
        cols.append(sa.Column(name, sa.Float if kind == "numeric" else sa.String(64)))
    cols += [
        sa.Column("prediction", sa.Float, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
    ]
    return sa.Table(TABLE, metadata, *cols)


def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, future=True)


def ensure_table(engine: sa.Engine, contract: Contract) -> sa.Table:
    """Create the table, or check that an existing one still has the contract's columns."""
    metadata = sa.MetaData()
    table = _table(metadata, contract)
    inspector = sa.inspect(engine)
    if inspector.has_table(TABLE):
        existing = {c["name"] for c in inspector.get_columns(TABLE)}
        expected = {c.name for c in table.columns}
        if existing != expected:
            where = engine.url.render_as_string(hide_password=True)
            missing, unexpected = sorted(expected - existing) or "-", sorted(existing - expected) or "-"
            raise RuntimeError(
                f"the prediction log at {where} does not match the data contract: missing {missing}, "
                f"unexpected {unexpected}; point RELAY_PREDICTION_LOG_URL at a new store (or migrate the table)"
            )
    metadata.create_all(engine)
    return table


def read_window(url: str, contract: Contract, rows: int, model_version: str | None = None) -> pd.DataFrame:
    """The newest `rows` predictions (of one model version, if given), oldest first; a clear error when the
    log does not exist."""
    engine = engine_for(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            raise FileNotFoundError(f"no prediction log at {url}: serve some traffic first")
        table = ensure_table(engine, contract)
        query = sa.select(table).order_by(table.c.id.desc()).limit(rows)
        if model_version is not None:
            query = query.where(table.c.model_version == model_version)
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn)
    finally:
        engine.dispose()
    return frame.iloc[::-1].reset_index(drop=True)


def read_request(url: str, request_id: str) -> pd.DataFrame:
    """Every logged row of one request (a batch request logs one row per record), in order."""
    engine = engine_for(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            raise FileNotFoundError(f"no prediction log at {url}: serve some traffic first")
        table = sa.Table(TABLE, sa.MetaData(), autoload_with=engine)
        query = sa.select(table).where(table.c.request_id == request_id).order_by(table.c.id)
        with engine.connect() as conn:
            return pd.read_sql(query, conn)
    finally:
        engine.dispose()


def count_rows(url: str) -> int:
    engine = engine_for(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return 0
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {TABLE}")).scalar_one())
    finally:
        engine.dispose()


class PredictionLogWriter:
    """Buffers rows in memory and writes them in batches on a background thread; `close()` flushes all."""

    def __init__(self, url: str, contract: Contract, *, batch_size: int = 500, flush_interval_s: float = 0.5) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.table = ensure_table(self.engine, contract)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self.written = 0
        self.failed = 0
        self._closed = False
        self._thread.start()

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        if self._closed:
            raise RuntimeError("the prediction log is closed")
        for row in rows:
            self._queue.put(row)

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=self.flush_interval_s)
                if item is None:
                    stopping = True
                else:
                    pending.append(item)
                    while len(pending) < self.batch_size:
                        nxt = self._queue.get_nowait()
                        if nxt is None:
                            stopping = True
                            break
                        pending.append(nxt)
            except queue.Empty:
                pass
            if pending:
                self._write(pending)
                pending = []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(self.table), rows)
            self.written += len(rows)
        except Exception:  # the log must never take the service down; the loss is counted and reported loudly
            self.failed += len(rows)
            log.exception("could not write %d prediction-log rows to %s", len(rows), self.url)

    def close(self, timeout: float = 30.0) -> int:
        """Flush and stop; returns how many rows were not written (0 on a clean close)."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        unwritten = self.failed + (self._queue.qsize() if self._thread.is_alive() else 0)
        if self._thread.is_alive():
            log.error("prediction log still writing after %.0f s; %d queued rows may be lost", timeout, unwritten)
        elif self.failed:
            log.error("%d prediction-log rows could not be written", self.failed)
        self.engine.dispose()
        return unwritten


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)

"""The prediction log (service contract, ML engineer → MLOps engineer): one row per prediction.

The service writes it off the request path in batches; the drift monitor reads a window of it. Columns:
request id, time, model version, every feature of the data contract, the prediction (binary: the probability
of the positive label; multiclass: the code of the predicted class, its place in the target's `allowed`;
regression: the predicted value), a binary model's decision (`flagged`) and the latency. The store is any
SQLAlchemy URL: SQLite by default, PostgreSQL in production.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import multiprocessing.util
import queue
import signal
import threading
import time
import weakref
from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from pipelines.core.contract import PREDICTION_LOG_COLUMNS, Contract

log = logging.getLogger("relay.prediction_log")
TABLE = "predictions"
# The log's own columns are named in the contracts layer, which refuses a feature of the same name.
META_COLUMNS = tuple(c for c in PREDICTION_LOG_COLUMNS if c != "id")


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
        # A binary model's decision at its threshold; null for a multiclass or regression model.
        sa.Column("flagged", sa.Boolean, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
    ]
    return sa.Table(TABLE, metadata, *cols)


def engine_for(url: str) -> sa.Engine:
    if not url.startswith("sqlite:///"):
        return sa.create_engine(url, future=True)
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the monitor read while the service writes, and with synchronous=NORMAL a commit no
        # longer waits for a disk flush: a crash of the process loses nothing, a power cut may lose the
        # last writes (SQLite's own advice for WAL). The flush on every commit was the writer's main cost.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def ensure_table(engine: sa.Engine, contract: Contract) -> sa.Table:
    """Create the table, or check that an existing one still has the contract's columns."""
    try:
        return _ensure_table(engine, contract)
    except sa.exc.DBAPIError:
        # Replicas starting together race to create it: the loser's CREATE fails although the table now
        # exists. Look again; any other failure raises from the second try.
        return _ensure_table(engine, contract)


def _ensure_table(engine: sa.Engine, contract: Contract) -> sa.Table:
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


def read_window(
    url: str, contract: Contract, rows: int, model_version: str | None = None, since: datetime | None = None
) -> pd.DataFrame:
    """The newest `rows` predictions (of one model version, and not older than `since`, if given), oldest
    first; a clear error when the log does not exist."""
    engine = engine_for(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            raise FileNotFoundError(f"no prediction log at {url}: serve some traffic first")
        table = ensure_table(engine, contract)
        query = sa.select(table).order_by(table.c.id.desc()).limit(rows)
        if model_version is not None:
            query = query.where(table.c.model_version == model_version)
        if since is not None:
            query = query.where(table.c.ts >= since)
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


# What crosses to the writer process: records, columns shared by all of them, predictions, decisions (the
# last two None when the records are whole rows already).
_Item = tuple[list[dict[str, Any]], dict[str, Any], list[float] | None, list[bool | None] | None]


class PredictionLogWriter:
    """Writes prediction-log rows from a process of its own; `close()` flushes everything and stops it.

    A request only appends its rows to a list in memory. Every `linger_s` a hand-off thread passes what has
    gathered to the writer process in one piece, which writes it in transactions of up to `batch_size`
    rows. So under load one transaction carries many requests, neither the hand-off nor the writer wakes
    once per request, and when it is quiet a row reaches the store within about `linger_s`. A writer thread
    in the service itself competed with the request path for the interpreter lock: building SQLAlchemy's
    parameters for a 1,000-record batch took longer than scoring it.

    The table is checked against the contract here, before the process starts, so a mismatched store is
    a clear error at start-up. The service's own shutdown hands the process the last rows and a stop sign
    after the last answered request. So the process ignores SIGINT (Ctrl-C reaches the whole process group)
    and, on SIGTERM, keeps writing until that stop sign, for at most `stop_grace_s`. A writer its owner
    forgot to close is closed at interpreter exit. It is started with `spawn`, so a script that creates the
    service itself needs the usual `if __name__ == "__main__":` guard.
    """

    def __init__(
        self,
        url: str,
        contract: Contract,
        *,
        batch_size: int = 2000,
        linger_s: float = 0.2,
        stop_grace_s: float = 30.0,
    ) -> None:
        self.url = url
        self.linger_s = linger_s
        engine = engine_for(url)
        try:
            ensure_table(engine, contract)
        finally:
            engine.dispose()
        ctx = mp.get_context("spawn")  # never fork a process that already runs threads (uvicorn, the model)
        self._queue: mp.Queue[list[_Item] | None] = ctx.Queue()
        self._written = ctx.Value("q", 0)
        self._failed = ctx.Value("q", 0)
        self._closed = False
        self._pending: list[_Item] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._process = ctx.Process(
            target=_write_until_stopped,
            args=(url, contract, self._queue, (self._written, self._failed)),
            kwargs={"batch_size": batch_size, "stop_grace_s": stop_grace_s},
            name="prediction-log",
            daemon=True,
        )
        self._process.start()
        self._handoff = threading.Thread(target=self._hand_off_every, name="prediction-log-handoff", daemon=True)
        self._handoff.start()
        _OPEN.add(self)

    @property
    def written(self) -> int:
        return int(self._written.value)

    @property
    def failed(self) -> int:
        return int(self._failed.value)

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue whole rows (every column of the table but `id`)."""
        if rows:
            self._add((list(rows), {}, None, None))

    def log_predictions(
        self, records: list[dict[str, Any]], predictions: list[float], flagged: list[bool | None], **meta: Any
    ) -> None:
        """Queue one request's records with their predictions; `meta` (request id, time, model version,
        latency) is the same for every row. The writer process builds the rows, off the request path."""
        if records:
            self._add((records, meta, predictions, flagged))

    def _add(self, item: _Item) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the prediction log is closed")
            self._pending.append(item)

    def _hand_off(self) -> None:
        with self._lock:
            parcel, self._pending = self._pending, []
        if parcel:
            self._queue.put(parcel)

    def _hand_off_every(self) -> None:
        while not self._stop.wait(self.linger_s):
            self._hand_off()

    def close(self, timeout: float = 60.0) -> int:
        """Flush and stop; returns how many rows were not written (0 on a clean close)."""
        with self._lock:
            if self._closed:
                return self.failed
            self._closed = True
        self._stop.set()
        self._handoff.join()
        self._hand_off()
        self._queue.put(None)
        self._process.join(timeout)
        unwritten = self.failed
        if self._process.is_alive():
            unwritten += sum(len(item[0]) for parcel in _drain(self._queue) if parcel for item in parcel)
            log.error("prediction log still writing after %.0f s; %d queued rows may be lost", timeout, unwritten)
            self._process.terminate()
            self._process.join(5)
        elif self.failed:
            log.error("%d prediction-log rows could not be written", self.failed)
        self._queue.close()
        self._queue.join_thread()
        _OPEN.discard(self)
        return unwritten


# Writers not closed by their owner (a script that exits without the service's shutdown, a test). Closing
# them at exit writes their rows; without it, multiprocessing's own exit handler would wait for a process
# that waits for a stop sign. `multiprocessing.util` is imported above so that its handler is registered
# first and therefore runs after this one.
_OPEN: weakref.WeakSet[PredictionLogWriter] = weakref.WeakSet()


@atexit.register
def _close_forgotten_writers() -> None:
    for writer in list(_OPEN):
        writer.close(timeout=30)


class _Batches:
    """Rows into the table in batches of about `batch_size`; a batch that fails is retried request by request,
    so one bad request never takes other requests' rows with it. Counts into the shared counters."""

    def __init__(self, insert: _Insert, counters: tuple[Synchronized[int], Synchronized[int]], batch_size: int) -> None:
        self.insert, self.batch_size = insert, batch_size
        self.written, self.failed = counters

    def write(self, items: list[_Item]) -> None:
        chunk: list[_Item] = []
        size = 0
        for item in items:
            chunk.append(item)
            size += len(item[0])
            if size >= self.batch_size:
                self._write_chunk(chunk)
                chunk, size = [], 0
        if chunk:
            self._write_chunk(chunk)

    def _write_chunk(self, chunk: list[_Item]) -> None:
        try:
            self.written.value += self.insert(chunk)
        except Exception:
            if len(chunk) > 1:
                for item in chunk:
                    self._write_chunk([item])
                return
            lost = len(chunk[0][0])
            self.failed.value += lost
            log.exception("could not write %d prediction-log rows to %s", lost, self.insert.engine.url)


def _write_until_stopped(
    url: str,
    contract: Contract,
    q: mp.Queue[list[_Item] | None],
    counters: tuple[Synchronized[int], Synchronized[int]],
    *,
    batch_size: int,
    stop_grace_s: float,
) -> None:
    """The writer process: batches of rows into the table until the stop sign, then whatever is left.
    `counters` are the rows written and the rows that failed, shared with the service."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asked_to_stop: list[float] = []
    signal.signal(signal.SIGTERM, lambda *_: asked_to_stop.append(time.monotonic()))
    engine = engine_for(url)
    batches = _Batches(_Insert(engine, ensure_table(engine, contract)), counters, batch_size)
    parent = mp.parent_process()
    while True:
        try:
            parcel = q.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                break  # the service was killed without a clean stop; write what reached us and go
            if asked_to_stop and time.monotonic() - asked_to_stop[0] > stop_grace_s:
                log.error("prediction-log writer: no stop sign %.0f s after SIGTERM; stopping", stop_grace_s)
                break
            continue
        if parcel is None:
            break
        batches.write(parcel)
    # The stop sign comes last; if the service died instead, what already reached the pipe is still written.
    rest = [item for parcel in _drain(q) if parcel for item in parcel]
    if rest:
        batches.write(rest)
    engine.dispose()


class _Insert:
    """One INSERT of many rows, compiled once for the store's dialect and handed to its driver's executemany.

    SQLAlchemy's `conn.execute(insert, rows)` rebuilt the parameters row by row in Python: 10 ms for 1,000
    rows, the writer's main cost. The statement and each column's bind processor (datetimes and booleans
    for SQLite, say) still come from SQLAlchemy, so every store gets the values it expects.
    """

    def __init__(self, engine: sa.Engine, table: sa.Table) -> None:
        self.engine = engine
        names = [c.name for c in table.columns if c.name != "id"]
        compiled = sa.insert(table).compile(dialect=engine.dialect, column_keys=names)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        order = list(compiled.positiontup or []) if self.positional else names
        self.columns = [(name, table.columns[name].type.bind_processor(engine.dialect)) for name in order]

    def __call__(self, items: list[_Item]) -> int:
        """Insert every row of `items` in one transaction; returns the number of rows."""
        params: list[Any] = []
        for item in items:
            params.extend(self._params(item))
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self.sql, params)
        return len(params)

    def _params(self, item: _Item) -> list[Any]:
        records, meta, predictions, flagged = item
        if predictions is None or flagged is None or not self.positional:
            rows = records
            if predictions is not None and flagged is not None:
                rows = [
                    {**rec, **meta, "prediction": p, "flagged": f}
                    for rec, p, f in zip(records, predictions, flagged, strict=True)
                ]
            return self._bind(rows, self.columns)
        # Column by column, then zipped into rows in C: the columns shared by a request's rows (its id, time,
        # model version, latency) are converted once, not once per row.
        n = len(records)
        columns: list[Any] = []
        for name, convert in self.columns:
            if name in meta:
                columns.append(repeat(convert(meta[name]) if convert else meta[name], n))
            elif name == "prediction":
                columns.append(predictions)
            elif name == "flagged":
                columns.append([convert(f) for f in flagged] if convert else flagged)
            else:
                values = [rec[name] for rec in records]
                columns.append([convert(v) for v in values] if convert else values)
        return list(zip(*columns, strict=False))

    def _bind(self, rows: list[dict[str, Any]], converters: list[tuple[str, Any]]) -> list[Any]:
        if self.positional:
            return [tuple(f(r[n]) if f else r[n] for n, f in converters) for r in rows]
        return [{n: (f(r[n]) if f else r[n]) for n, f in converters} for r in rows]


def _drain(q: mp.Queue[list[_Item] | None]) -> list[list[_Item] | None]:
    items = []
    while True:
        try:
            items.append(q.get(timeout=0.05))
        except queue.Empty:
            return items


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)

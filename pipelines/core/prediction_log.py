"""The prediction log (service contract, ML engineer → MLOps engineer): one row per prediction.

The service writes it off the request path in batches; the drift monitor reads a window of it. Columns:
request id, time, model version, every feature of the data contract, the prediction (binary: the probability
of the positive label; multiclass: the code of the predicted class, its place in the target's `allowed`;
regression: the predicted value), a binary model's decision (`flagged`), the latency and the protocol the
request came in by (`relay` for `/v1`, else the name of the other protocol the service speaks; null in rows
written before the column was added). The store is any SQLAlchemy URL: SQLite by default, PostgreSQL in production.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing as mp
import multiprocessing.util
import queue
import signal
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from multiprocessing.connection import Connection
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
        # Added after the first release; nullable, so an older table gains it in place (see _ensure_table).
        sa.Column("protocol", sa.String(32), nullable=True),
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
        added = [c for c in table.columns if c.name not in existing]
        # A nullable column a newer Relay writes (`protocol`) is added in place; any other difference is an error.
        if existing - expected or any(not c.nullable for c in added):
            where = engine.url.render_as_string(hide_password=True)
            missing, unexpected = sorted(expected - existing) or "-", sorted(existing - expected) or "-"
            raise RuntimeError(
                f"the prediction log at {where} does not match the data contract: missing {missing}, "
                f"unexpected {unexpected}; point RELAY_PREDICTION_LOG_URL at a new store (or migrate the table)"
            )
        for c in added:  # replicas starting together may race here: ensure_table's second look settles it
            with engine.begin() as conn:
                conn.execute(sa.text(f'ALTER TABLE {TABLE} ADD COLUMN "{c.name}" {c.type.compile(engine.dialect)}'))
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


# part:lineage:begin
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


# part:lineage:end
def count_rows(url: str) -> int:
    engine = engine_for(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return 0
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {TABLE}")).scalar_one())
    finally:
        engine.dispose()


# What crosses to the writer process: one request's records, the columns shared by all of them, predictions and
# decisions.
_Item = tuple[list[dict[str, Any]], dict[str, Any], list[float], list[bool | None]]
# Parcels go to the writer as (sequence number, items); None is the stop sign. The writer reports back
# ("done", seq, rows written, positions of the items that failed, why) once a parcel is settled, and
# ("store", problem or None) when the store becomes unreachable or reachable again.
_Report = tuple[Any, ...]


class PredictionLogError(RuntimeError):
    """A request's rows could not be committed (durable mode); the service answers 503 with the message."""


class PredictionLogWriter:
    """Writes prediction-log rows from a process of its own; `close()` flushes everything and stops it.

    A request only appends its rows to a list in memory. A hand-off thread passes what has gathered to the
    writer process in one piece, which writes it in transactions of up to `batch_size` rows. By default
    (`durable=False`) it does so every `linger_s` and the request does not wait: under load one transaction
    carries many requests, and a crash of the service loses what it had not handed over yet. With
    `durable=True`, `log_predictions` returns an awaitable that completes once the request's rows are
    committed (or raises `PredictionLogError`, at the latest after `ack_timeout_s`): the thread hands over
    as soon as rows arrive (the whole micro-batch's), one parcel at a time, so whatever arrives while a
    transaction commits goes into the next one together (group commit). A writer thread in the service
    itself competed with the request path for the interpreter lock: building SQLAlchemy's parameters for a
    1,000-record batch took longer than scoring it.

    While the store is unreachable (a database restart) the writer keeps the rows and retries, and
    `problem` says what is wrong. It keeps at most about `hold_rows` rows: beyond them, new rows are refused
    and counted in `failed`, rather than filling the memory of a service whose store stays away. A durable
    request meanwhile gets `PredictionLogError` at once. The table is checked against the contract here,
    before the process starts, so a mismatched store is a clear error at start-up. The service's own shutdown hands the
    process the last rows and a stop sign after the last answered request. So the process ignores SIGINT
    (Ctrl-C reaches the whole process group) and, on SIGTERM, keeps writing until that stop sign, for at
    most `stop_grace_s`. A writer its owner forgot to close is closed at interpreter exit. It is started
    with `spawn`, so a script that creates the service itself needs the usual `if __name__ == "__main__":`
    guard.
    """

    ack_timeout_s = 10.0  # a durable request waits this long for its commit, then gets 503

    def __init__(  # noqa: PLR0913 (keyword-only tuning, each with its default)
        self,
        url: str,
        contract: Contract,
        *,
        durable: bool = False,
        batch_size: int = 2000,
        linger_s: float = 0.2,
        stop_grace_s: float = 30.0,
        hold_rows: int = 200_000,
    ) -> None:
        self.url, self.durable, self.linger_s = url, durable, linger_s
        engine = engine_for(url)
        try:
            ensure_table(engine, contract)
        finally:
            engine.dispose()
        ctx = mp.get_context("spawn")  # never fork a process that already runs threads (uvicorn, the model)
        # Pipes, not a multiprocessing Queue and shared Values: those hold named semaphores, which a service
        # ended by a re-raised SIGTERM (uvicorn's way out) never unlinks, and the resource tracker then
        # prints "leaked semaphore objects" at every shutdown.
        parcels_in, self._parcels = ctx.Pipe(duplex=False)
        self._reports, reports_out = ctx.Pipe(duplex=False)
        self._sent = self._seq = 0
        # Rows committed; rows lost (refused by the store, or handed over to a writer process that then died; not
        # those held and retried while the store is unreachable); why rows are not reaching the store now (or None).
        self.written = self.failed = 0
        self.problem: str | None = None
        self._closed = self._gone = False
        self._pending: list[tuple[_Item, asyncio.Future[None] | None]] = []
        self._inflight: dict[int, list[asyncio.Future[None] | None]] = {}
        self._lock = threading.Lock()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._process = ctx.Process(
            target=_write_until_stopped,
            args=(url, contract, parcels_in, reports_out),
            kwargs={"batch_size": batch_size, "stop_grace_s": stop_grace_s, "hold_rows": hold_rows},
            name="prediction-log",
            daemon=True,
        )
        self._process.start()
        # Only the writer holds these ends now, so each side sees end-of-file when the other one dies.
        parcels_in.close()
        reports_out.close()
        self._handoff = threading.Thread(target=self._hand_off_every, name="prediction-log-handoff", daemon=True)
        self._handoff.start()
        _OPEN.add(self)

    def log_predictions(
        self, records: list[dict[str, Any]], predictions: list[float], flagged: list[bool | None], **meta: Any
    ) -> Awaitable[None] | None:
        """Queue one request's records with their predictions; `meta` (request id, time, model version,
        latency, and optionally the protocol) is the same for every row. The writer process builds the rows, off
        the request path. Durable: returns an awaitable (call from the event loop) that completes once they are
        committed."""
        return self._add((records, {"protocol": None, **meta}, predictions, flagged)) if records else None

    def _add(self, item: _Item) -> Awaitable[None] | None:
        future = asyncio.get_running_loop().create_future() if self.durable else None
        with self._lock:
            if self._closed:
                raise RuntimeError("the prediction log is closed")
            # Durable: no promise the log cannot keep now; rows would only pile up behind those being retried.
            if future is not None and (self._gone or self.problem):  # each problem names the prediction log
                raise PredictionLogError(str(self.problem))
            self._pending.append((item, future))
        if future is None:
            return None
        # Woken once the event loop has run what is ready: the other requests of the same micro-batch then log
        # theirs first and go into the same parcel. Woken at once, the thread often took one request's rows
        # alone (interleaved with the default mode in one run at concurrency 16: 0.77x of its req/s, 0.87x so).
        asyncio.get_running_loop().call_soon(self._wake.set)
        return self._committed(future)

    async def _committed(self, future: asyncio.Future[None]) -> None:
        try:
            await asyncio.wait_for(future, self.ack_timeout_s)  # on timeout the future is cancelled: not settled later
        except TimeoutError:
            why = self.problem or "the writer is behind"
            raise PredictionLogError(f"prediction log: not committed within {self.ack_timeout_s:g} s ({why})") from None

    def _hand_off(self) -> None:
        with self._lock:
            parcel, self._pending = self._pending, []
        if not parcel:
            return
        self._seq += 1
        items = [item for item, _ in parcel]
        if self.durable:
            self._inflight[self._seq] = [future for _, future in parcel]
        self._sent += sum(len(item[0]) for item in items)
        try:
            self._parcels.send((self._seq, items))
        except OSError:
            self._writer_gone()

    def _hand_off_every(self) -> None:
        while not self._stop.is_set():
            if self._inflight:
                # Durable: one parcel at a time, so what arrives meanwhile is committed together next.
                self._read_reports(self.linger_s)
                continue
            (self._wake if self.durable else self._stop).wait(self.linger_s)
            self._wake.clear()
            self._hand_off()
            self._read_reports(0)

    def _read_reports(self, timeout: float) -> bool:
        """Apply what the writer reported within `timeout`; False once it has gone."""
        try:
            ready = self._reports.poll(timeout)
            while ready:
                self._apply(self._reports.recv())
                ready = self._reports.poll(0)
        except (EOFError, OSError):
            self._writer_gone()
            return False
        return True

    def _apply(self, report: _Report) -> None:
        if report[0] == "store":
            self.problem = report[1]
            return
        _, seq, written, failed_positions, failed_rows, why = report
        self.written += written
        # A report read after the writer has gone (it sent it before dying) shrinks the rows lost with it.
        self.failed = self._sent - self.written if self._gone else self.failed + failed_rows
        futures = self._inflight.pop(seq, [])
        failed = set(failed_positions)
        error = f"prediction log: rows not written ({why})"
        _settle([(f, PredictionLogError(error) if i in failed else None) for i, f in enumerate(futures)])

    def _writer_gone(self) -> None:
        if not self._gone:
            self._gone = True
            self._process.join(1)
            self.problem = f"the prediction-log writer exited with code {self._process.exitcode}"
            if not self._closed:
                log.error("%s; rows not yet written are lost", self.problem)
        with self._lock:
            pending, self._pending = self._pending, []
            lost = [f for futures in self._inflight.values() for f in futures] + [f for _, f in pending]
            self._inflight = {}
        self._sent += sum(len(item[0]) for item, _ in pending)
        self.failed = self._sent - self.written  # the writer has gone: whatever it had not reported written is lost
        _settle([(f, PredictionLogError(f"prediction log: {self.problem}")) for f in lost])

    def close(self, timeout: float = 60.0) -> int:
        """Flush and stop; returns how many rows were not written (0 on a clean close)."""
        with self._lock:
            if self._closed:
                return self._sent - self.written
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._handoff.join()
        self._hand_off()
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            self._parcels.send(None)
        # Until the writer has reported everything and exited (end of file), or the deadline.
        while (left := deadline - time.monotonic()) > 0 and self._read_reports(left):
            pass
        self._process.join(max(0.0, deadline - time.monotonic()))
        unwritten = self._sent - self.written
        if self._process.is_alive():
            log.error("prediction log still writing after %.0f s; %d rows may be lost", timeout, unwritten)
            self._process.terminate()
            self._process.join(5)
        elif unwritten:
            log.error("%d prediction-log rows could not be written", unwritten)
        self._parcels.close()
        self._reports.close()
        _OPEN.discard(self)
        return unwritten


def _settle(outcomes: list[tuple[asyncio.Future[None] | None, Exception | None]]) -> None:
    """Complete requests' futures from any thread, one call into each event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], Exception | None]]] = {}
    for future, error in outcomes:
        if future is not None:
            by_loop.setdefault(future.get_loop(), []).append((future, error))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
            loop.call_soon_threadsafe(_set_all, settled)


def _set_all(settled: list[tuple[asyncio.Future[None], Exception | None]]) -> None:
    for future, error in settled:
        if future.done():  # its request gave up waiting
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


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
    """Parcels into the table in transactions of about `batch_size` rows, reporting each parcel once settled.

    A transaction that fails on its rows is retried request by request, so one bad request never takes other
    requests' rows with it. One that fails because the store cannot be reached (`OperationalError`: a
    database restarting, SQLite busy) keeps its rows and is retried until it succeeds or `give_up()` says
    the service is gone; the service is told while that lasts."""

    def __init__(self, insert: _Insert, reports: Connection, batch_size: int, give_up: Callable[[], bool]) -> None:
        self.insert, self.reports, self.batch_size, self.give_up = insert, reports, batch_size, give_up
        self.down = False
        self._sending = threading.Lock()  # the receiving thread reports refused parcels too

    def write(self, seq: int, items: list[_Item]) -> None:
        written, failed, why = 0, list[int](), ""
        chunk: list[int] = []
        size = 0
        for position, item in enumerate(items):
            chunk.append(position)
            size += len(item[0])
            if size >= self.batch_size or position == len(items) - 1:
                w, f, why = self._write_chunk(items, chunk)
                written, failed, chunk, size = written + w, failed + f, [], 0
        failed_rows = sum(len(items[p][0]) for p in failed)
        self.report(("done", seq, written, failed, failed_rows, why))

    def _write_chunk(self, items: list[_Item], chunk: list[int]) -> tuple[int, list[int], str]:
        """Rows written, positions that failed, and why the last one failed."""
        try:
            return self._insert_retrying([items[p] for p in chunk]), [], ""
        except Exception as exc:
            if len(chunk) == 1:
                rows = len(items[chunk[0]][0])
                log.exception("could not write %d prediction-log rows to %s", rows, self.insert.engine.url)
                return 0, chunk, _one_line(exc)
        written, failed, why = 0, list[int](), ""
        for position in chunk:
            w, f, why_not = self._write_chunk(items, [position])
            written, failed, why = written + w, failed + f, why_not or why
        return written, failed, why

    def _insert_retrying(self, items: list[_Item]) -> int:
        delay = 0.1
        while True:
            try:
                written = self.insert(items)
            except sa.exc.OperationalError as exc:
                if self.give_up():
                    raise
                # Fresh connections for the next try: a pooled SQLite connection can keep failing on a schema
                # another process changed meanwhile, and a restarted database server has closed the old ones.
                self.insert.engine.dispose()
                if not self.down:
                    self.down = True
                    problem = f"prediction log unreachable, rows kept and retried: {_one_line(exc)}"
                    log.error("%s", problem)
                    self.report(("store", problem))
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if self.down:
                self.down = False
                log.warning("prediction log reachable again")
                self.report(("store", None))
            return written

    def report(self, report: _Report) -> None:
        with self._sending, contextlib.suppress(OSError):  # the service has gone; its rows are written all the same
            self.reports.send(report)


@dataclass
class _Held:
    """Rows the writer process holds: received by the receiving thread, settled by the writing loop (each count
    has one writer, so no lock)."""

    limit: int
    received: int = 0
    settled: int = 0
    refusing: bool = False


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _write_until_stopped(  # noqa: PLR0913 (the writer's settings, passed through from PredictionLogWriter)
    url: str,
    contract: Contract,
    parcels: Connection,
    reports: Connection,
    *,
    batch_size: int,
    stop_grace_s: float,
    hold_rows: int,
) -> None:
    """The writer process: parcels of rows into the table until the stop sign, or until the service has gone
    (end of file on `parcels`: everything that reached the pipe before is still written). While the store is
    unreachable it holds at most about `hold_rows` rows and refuses parcels beyond them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asked_to_stop: list[float] = []
    signal.signal(signal.SIGTERM, lambda *_: asked_to_stop.append(time.monotonic()))
    parent = mp.parent_process()

    def give_up() -> bool:
        late = bool(asked_to_stop) and time.monotonic() - asked_to_stop[0] > stop_grace_s
        return late or (parent is not None and not parent.is_alive())

    # A thread empties the pipe into memory, so the service never waits on a writer that is retrying.
    inbox: queue.SimpleQueue[tuple[int, list[_Item]] | None] = queue.SimpleQueue()
    engine = engine_for(url)
    batches = _Batches(_Insert(engine, ensure_table(engine, contract)), reports, batch_size, give_up)
    held = _Held(hold_rows)
    threading.Thread(target=_receive, args=(parcels, inbox, held, batches), daemon=True).start()
    while True:
        try:
            parcel = inbox.get(timeout=1.0)
        except queue.Empty:
            if asked_to_stop and time.monotonic() - asked_to_stop[0] > stop_grace_s:
                log.error("prediction-log writer: no stop sign %.0f s after SIGTERM; stopping", stop_grace_s)
                break
            continue
        if parcel is None:
            break
        batches.write(*parcel)
        held.settled += _rows(parcel[1])
    engine.dispose()
    reports.close()


def _receive(
    parcels: Connection, inbox: queue.SimpleQueue[tuple[int, list[_Item]] | None], held: _Held, batches: _Batches
) -> None:
    while True:
        try:
            parcel = parcels.recv()
        except (EOFError, OSError):
            parcel = None
        rows, holding = (_rows(parcel[1]) if parcel else 0), held.received - held.settled
        if parcel is not None and holding and holding + rows > held.limit:  # a parcel alone is always taken
            why = f"{holding} rows already wait for the store; RELAY_PREDICTION_LOG_HOLD_ROWS is {held.limit}"
            if not held.refusing:
                log.error("prediction log: refusing rows: %s", why)
            held.refusing = True
            batches.report(("done", parcel[0], 0, list(range(len(parcel[1]))), rows, why))  # all rows lost
            continue
        held.received, held.refusing = held.received + rows, False
        inbox.put(parcel)
        if parcel is None:
            return


def _rows(items: list[_Item]) -> int:
    return sum(len(item[0]) for item in items)


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
        self.names = list(compiled.positiontup or []) if self.positional else names
        self.columns = [(name, table.columns[name].type.bind_processor(engine.dialect)) for name in self.names]

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
        rows = zip(*columns, strict=False)
        return list(rows) if self.positional else [dict(zip(self.names, row, strict=True)) for row in rows]


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)

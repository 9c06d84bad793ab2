from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from pipelines.core.prediction_log import PredictionLogWriter, count_rows, now_utc, read_window
from pipelines.flows.service import poll_until
from tests.helpers import ORDERS, REPO

# Each test starts the log's writer process (about a second each): `make test` runs them, `make test-fast` not.
pytestmark = pytest.mark.slow


def rows(n: int, version: str = "1") -> list[dict[str, Any]]:
    base = {"request_id": "r", "model_version": version, "prediction": 0.3, "flagged": True, "latency_ms": 1.0}
    return [{**ORDERS.example_record(), **base, "ts": now_utc()} for _ in range(n)]


def log(writer: PredictionLogWriter, logged: list[dict[str, Any]]) -> Any:
    """Rows as the service logs them: one request, its shared columns taken from the first row."""
    meta = {k: logged[0][k] for k in ("request_id", "ts", "model_version", "latency_ms")}
    records = [{c: r[c] for c in ORDERS.feature_columns()} for r in logged]
    return writer.log_predictions(records, [r["prediction"] for r in logged], [r["flagged"] for r in logged], **meta)


def test_clean_close_writes_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS, batch_size=7)
    log(writer, rows(50))
    assert writer.close() == 0
    assert count_rows(url) == 50 == writer.written


def test_window_is_newest_first_then_oldest_first_and_per_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS)
    log(writer, rows(30, "1"))
    log(writer, rows(20, "2"))
    writer.close()
    assert len(read_window(url, ORDERS, 10)) == 10 and set(read_window(url, ORDERS, 10)["model_version"]) == {"2"}
    assert len(read_window(url, ORDERS, 100, model_version="1")) == 30


def test_logging_after_close_is_refused(tmp_path: Path) -> None:
    writer = PredictionLogWriter(f"sqlite:///{tmp_path}/log.db", ORDERS)
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        log(writer, rows(1))


def test_failed_writes_are_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS)
    log(writer, [{**rows(1)[0], "prediction": None}])  # violates NOT NULL
    assert writer.close() == 1 and writer.failed == 1


def test_rows_left_by_a_writer_that_died_count_as_lost(tmp_path: Path) -> None:
    """Not durable: the requests were answered, so `failed` (relay_prediction_log_rows_lost_total) is all that
    tells anyone these rows are gone."""
    writer = PredictionLogWriter(f"sqlite:///{tmp_path}/log.db", ORDERS)
    assert writer._process.pid is not None
    os.kill(writer._process.pid, signal.SIGKILL)
    writer._process.join(10)
    log(writer, rows(3))
    deadline = time.monotonic() + 10
    while writer.failed < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.failed == 3 and writer.problem is not None and "exited" in writer.problem
    assert writer.close(timeout=5) == 3


def test_a_log_from_another_contract_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE predictions (id INTEGER PRIMARY KEY, colour TEXT)"))
    engine.dispose()
    with pytest.raises(RuntimeError, match=r"does not match the data contract: missing \['brand'"):
        PredictionLogWriter(url, ORDERS)


def test_a_log_from_before_the_protocol_column_gains_it_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS)
    log(writer, rows(2))
    writer.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the table as Relay wrote it before the column was added
        conn.execute(sa.text("ALTER TABLE predictions DROP COLUMN protocol"))
    engine.dispose()
    writer = PredictionLogWriter(url, ORDERS)
    meta = {"request_id": "new", "ts": now_utc(), "model_version": "1", "latency_ms": 1.0, "protocol": "relay"}
    writer.log_predictions([ORDERS.example_record()], [0.3], [False], **meta)
    assert writer.close() == 0
    protocols = read_window(url, ORDERS, 10)["protocol"]
    assert protocols.isna().tolist() == [True, True, False] and protocols.iloc[-1] == "relay"


def test_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="serve some traffic first"):
        read_window(f"sqlite:///{tmp_path}/none.db", ORDERS, 10)
    assert count_rows(f"sqlite:///{tmp_path}/none.db") == 0


def test_request_rows_keep_their_values_and_order(tmp_path: Path) -> None:
    """The service's path: one request's records and predictions, the shared columns given once."""
    url = f"sqlite:///{tmp_path}/log.db"
    records = [ORDERS.example_record() | {"price": 10.0 + i, "customer_weight_kg": None} for i in range(25)]
    writer = PredictionLogWriter(url, ORDERS)
    ts = now_utc()
    preds, flags = [i / 100 for i in range(25)], [i % 3 == 0 for i in range(25)]
    writer.log_predictions(records, preds, flags, request_id="req-1", ts=ts, model_version="2", latency_ms=1.5)
    assert writer.close() == 0 and writer.written == 25
    got = read_window(url, ORDERS, 1000)  # the whole log: this request's rows, in order
    assert got["price"].tolist() == [r["price"] for r in records]
    assert got["customer_weight_kg"].isna().all()
    assert got["prediction"].tolist() == preds and got["flagged"].tolist() == flags
    assert set(got["model_version"]) == {"2"} and (got["latency_ms"] == 1.5).all()
    assert got["ts"].iloc[0] == pd.Timestamp(ts)


FORGETFUL = """
import sys
from pipelines.core.prediction_log import PredictionLogWriter
from tests.helpers import ORDERS
from tests.unit.services.test_prediction_log import log, rows

if __name__ == "__main__":
    writer = PredictionLogWriter(sys.argv[1], ORDERS)
    log(writer, rows(40))
    # exits without writer.close()
"""


def test_a_writer_nobody_closed_is_flushed_at_exit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    script = tmp_path / "forgetful.py"
    script.write_text(FORGETFUL)
    cmd = [sys.executable, str(script), url]
    done = subprocess.run(cmd, check=False, cwd=REPO, timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert count_rows(url) == 40


def test_sigterm_without_a_stop_sign_ends_the_writer_after_its_grace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS, stop_grace_s=1.0)
    log(writer, rows(5))
    deadline = time.monotonic() + 30
    while writer.written < 5 and time.monotonic() < deadline:  # the process is up and has written them
        time.sleep(0.05)
    process = writer._process  # the test plays the process supervisor
    assert process.pid is not None
    os.kill(process.pid, signal.SIGTERM)
    log(writer, rows(3))  # still accepted and written: SIGTERM alone does not stop the writer
    time.sleep(0.5)
    # Polled, not one join: the writer's report thread joins the process too when it sees it go, and the thread
    # that loses the race to reap it reads "still running" once (multiprocessing's poll on ECHILD).
    deadline = time.monotonic() + 10
    while process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.is_alive(), "the writer ignored SIGTERM for longer than its grace"
    assert count_rows(url) == 8
    writer.close(timeout=5)


def test_window_can_be_limited_to_recent_hours(tmp_path: Path) -> None:
    from datetime import timedelta

    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS)
    old = [{**r, "ts": now_utc() - timedelta(hours=30)} for r in rows(7)]
    log(writer, old)
    log(writer, rows(4))
    writer.close()
    assert len(read_window(url, ORDERS, 100)) == 11
    recent = read_window(url, ORDERS, 100, since=now_utc() - timedelta(hours=24))
    assert len(recent) == 4


def test_durable_acknowledges_only_committed_rows(tmp_path: Path) -> None:
    """RELAY_PREDICTION_LOG_ACK=durable: each request's awaitable completes once its rows are in the store, a
    request whose rows cannot be written gets PredictionLogError, and the others in its transaction do not."""
    import asyncio

    from pipelines.core.prediction_log import PredictionLogError

    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS, durable=True)

    async def requests() -> list[BaseException | None]:
        meta = {"ts": now_utc(), "model_version": "1", "latency_ms": 1.0}
        two = [ORDERS.example_record()] * 2
        acks = [writer.log_predictions(two, [0.1, 0.2], [False, True], request_id=f"r{i}", **meta) for i in range(20)]
        acks.append(log(writer, [{**rows(1)[0], "prediction": None}]))  # violates NOT NULL
        outcomes = await asyncio.gather(*[a for a in acks if a is not None], return_exceptions=True)
        assert count_rows(url) == 40  # read before close: acknowledged means committed already
        return [o if isinstance(o, BaseException) else None for o in outcomes]

    outcomes = asyncio.run(requests())
    assert outcomes[:20] == [None] * 20
    assert isinstance(outcomes[20], PredictionLogError) and "NOT NULL" in str(outcomes[20])
    assert writer.close() == 1 and writer.written == 40


def test_fast_mode_does_not_wait(tmp_path: Path) -> None:
    writer = PredictionLogWriter(f"sqlite:///{tmp_path}/log.db", ORDERS)
    assert log(writer, rows(3)) is None
    assert writer.close() == 0 and writer.written == 3


def test_a_writer_that_died_fails_durable_requests(tmp_path: Path) -> None:
    """Killed writer: waiting requests and new ones get PredictionLogError (503), never a silent success."""
    import asyncio

    from pipelines.core.prediction_log import PredictionLogError

    writer = PredictionLogWriter(f"sqlite:///{tmp_path}/log.db", ORDERS, durable=True)
    assert writer._process.pid is not None
    os.kill(writer._process.pid, signal.SIGKILL)
    writer._process.join(10)

    async def request() -> None:
        ack = log(writer, rows(1))
        assert ack is not None
        await ack

    with pytest.raises(PredictionLogError, match="writer exited"):
        asyncio.run(request())
    assert writer.problem is not None and "exited" in writer.problem
    with pytest.raises(PredictionLogError, match="writer exited"):
        asyncio.run(request())
    writer.close(timeout=5)


def _store_away(url: str) -> sa.Engine:
    """The log's table renamed away: every insert fails as if the store could not be reached, until it is back.
    Call it once a row has been written: the writer process has then checked its table and will not create it
    again."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE predictions RENAME TO away")
    return engine


def test_rows_held_for_an_unreachable_store_are_bounded(tmp_path: Path) -> None:
    """Fast mode: while the store is away the writer holds rows up to RELAY_PREDICTION_LOG_HOLD_ROWS, refuses
    (and counts as lost) those beyond, and writes what it held once the store is back."""
    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS, hold_rows=50, linger_s=0.02)
    log(writer, rows(1))
    poll_until(lambda: writer.written == 1, 10, "the first row was not written")
    engine = _store_away(url)
    log(writer, rows(30))
    poll_until(lambda: writer.problem is not None, 10, "the store's absence was not reported")
    log(writer, rows(30))  # 30 held + 30 > 50
    poll_until(lambda: writer.failed == 30, 10, "the rows beyond the bound were not refused")
    log(writer, rows(10))  # still room for these
    time.sleep(0.2)
    assert writer.failed == 30
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE away RENAME TO predictions")
    poll_until(lambda: writer.problem is None, 10, "the store's return was not reported")
    assert writer.close() == 30 and writer.written == 41 == count_rows(url)


def test_a_durable_request_is_refused_at_once_while_the_store_is_away(tmp_path: Path) -> None:
    """The rows already handed over wait for the store; a new request is not promised what cannot be kept now."""
    import asyncio

    from pipelines.core.prediction_log import PredictionLogError

    url = f"sqlite:///{tmp_path}/log.db"
    writer = PredictionLogWriter(url, ORDERS, durable=True)

    async def requests() -> BaseException | None:
        ack = log(writer, rows(1))
        assert ack is not None
        await ack
        engine = _store_away(url)
        waiting = log(writer, rows(30))  # handed to the writer, which holds it and retries
        assert waiting is not None
        poll_until(lambda: writer.problem is not None, 10, "the store's absence was not reported")
        with pytest.raises(PredictionLogError, match="unreachable"):
            log(writer, rows(30))
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE away RENAME TO predictions")
        outcome = await asyncio.gather(waiting, return_exceptions=True)
        return outcome[0] if isinstance(outcome[0], BaseException) else None

    assert asyncio.run(requests()) is None
    assert writer.close() == 0 and count_rows(url) == 31

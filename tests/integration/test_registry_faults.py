"""A registry that goes missing: reads refuse in one line and create nothing; a running service says why,
answers 503 to a reload, and heals by itself when the store comes back (issue 21)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from pipelines.flows.service import poll_until, stop_service
from tests.helpers import ORDERS, copy_workspace

pytestmark = pytest.mark.integration
POSTGRES = os.environ.get("RELAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture
def moved_away(trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A trained workspace whose MLflow store (SQLite file and artifacts) was moved out: (workspace, store)."""
    ws = copy_workspace(trained_workspace, tmp_path / "ws")
    away = tmp_path / "away"
    (ws / "local" / "mlflow").rename(away)
    monkeypatch.setenv("RELAY_ROOT", str(ws))
    monkeypatch.chdir(ws)
    return ws, away


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if ".git" not in p.parts}


def _one_line_refusal(argv: list[str], root: Path, *expected: str) -> None:
    """`relay <argv>` exits 1 with one line holding `expected` (by default: no registry, and what to run)."""
    from pipelines.cli.main import app

    before = _files(root)
    result = CliRunner().invoke(app, argv)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, (argv, result.output)
    assert all(e in lines[0] for e in expected or ("no registry at", "run `make pipeline`")), (argv, lines[0])
    assert _files(root) == before, f"`relay {' '.join(argv)}` created {_files(root) - before}"


def test_read_only_commands_on_a_missing_store_refuse_and_create_nothing(moved_away: tuple[Path, Path]) -> None:
    from pipelines.flows.monitoring import load_reference

    ws, _ = moved_away
    s = Settings()
    # part:lineage:begin
    from pipelines.core.prediction_log import PredictionLogWriter, now_utc

    # One logged prediction, so `relay lineage` gets as far as the registry.
    writer = PredictionLogWriter(s.prediction_log, ORDERS)
    writer.log_predictions(
        [ORDERS.example_record()], [0.4], [True], request_id="req-1", ts=now_utc(), model_version="1", latency_ms=1.0
    )
    assert writer.close() == 0
    _one_line_refusal(["lineage", "req-1"], ws)
    # part:lineage:end
    batch = next((ws / "data" / "raw").glob("*.parquet"))  # part:batch-scoring
    for argv in (
        ["model", "status"],
        ["model", "rollback"],
        ["mlflow-ui"],
        ["experiments", "compare"],  # part:experiments
        ["score", "--file", str(batch), "--out", str(ws / "scored.parquet")],  # part:batch-scoring
    ):
        _one_line_refusal(argv, ws)
    before = _files(ws)
    # The monitor's read of the champion, without the flow around it: refused at once, not retried.
    with pytest.raises(FileNotFoundError, match="no registry at"):
        load_reference.fn(s)
    assert _files(ws) == before


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A PostgreSQL database without MLflow's tables, dropped afterwards."""
    name = f"relay_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_postgresql_store_that_is_empty_or_down_is_not_created(
    moved_away: tuple[Path, Path], empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = moved_away
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", empty_database)
    _one_line_refusal(["model", "status"], ws)
    engine = sa.create_engine(empty_database)
    assert sa.inspect(engine).get_table_names() == [], "a read created MLflow's tables"
    engine.dispose()
    # Nothing listens on the port: one quick connection attempt, not MLflow's minutes of retries.
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", f"{POSTGRES.rsplit(':', 1)[0]}:{free_port()}/mlflow")
    _one_line_refusal(["model", "status"], ws, "cannot be used", "Connection refused")


def test_a_service_heals_when_its_registry_comes_back(moved_away: tuple[Path, Path], tmp_path: Path) -> None:
    ws, away = moved_away
    store = ws / "local" / "mlflow"
    port = free_port()
    env = Settings().child_env() | {
        "RELAY_PREDICTION_LOG_URL": f"sqlite:///{tmp_path}/log.db",
        "RELAY_RELOAD_INTERVAL_S": "0.5",
    }
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
        env=env,
        cwd=ws,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def get(path: str) -> httpx.Response:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}; see {tmp_path / 'service.log'}")
        return httpx.get(url + path, timeout=10)

    def answers() -> bool:
        try:
            return get("/health/live").status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll_until(answers, 120, "the service did not start")
        # Started without a store: not ready, says why, and made none.
        ready = get("/health/ready")
        assert ready.status_code == 503 and "no registry at" in ready.json()["reason"]
        reload = httpx.post(f"{url}/v1/model/reload", timeout=30)
        assert reload.status_code == 503 and "no registry at" in reload.json()["detail"]
        assert not store.exists()

        away.rename(store)
        poll_until(lambda: get("/health/ready").status_code == 200, 60, "not ready after the store came back")
        assert get("/v1/model").json()["last_reload_error"] is None

        # Gone under a running service: the model it holds keeps serving, and the reason is reported.
        store.rename(away)
        reload = httpx.post(f"{url}/v1/model/reload", timeout=30)
        assert reload.status_code == 503 and "no registry at" in reload.json()["detail"]
        info = get("/v1/model").json()
        assert info["version"] == "1" and "no registry at" in info["last_reload_error"]
        assert get("/health/ready").status_code == 200
        assert httpx.post(f"{url}/v1/predict", json=ORDERS.example_record(), timeout=10).status_code == 200
        assert not store.exists()

        away.rename(store)
        poll_until(lambda: get("/v1/model").json()["last_reload_error"] is None, 60, "the poller did not heal")
        reload = httpx.post(f"{url}/v1/model/reload", timeout=30)
        assert reload.status_code == 200 and reload.json()["version"] == "1"

        # Another file at the same path (a store made again, or restored from a backup) is the one read, not
        # the file the service had open: in this one the champion alias is gone.
        replaced = tmp_path / "replaced.db"
        shutil.copy(store / "mlflow.db", replaced)
        with contextlib.closing(sqlite3.connect(replaced)) as conn, conn:
            conn.execute("DELETE FROM registered_model_aliases")
        os.replace(replaced, store / "mlflow.db")
        poll_until(
            lambda: "no 'champion' alias" in (get("/v1/model").json()["last_reload_error"] or ""),
            60,
            "the service kept reading the replaced store",
        )
    finally:
        stop_service(proc)
        log.close()

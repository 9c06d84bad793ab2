"""The own-image part of infra/compose.yaml, brought up for real with Compose v2 against podman's socket.

With infra/compose.test.yaml on top: the MLflow server (relay-pipeline image) on a fresh database of the
host's PostgreSQL, the worker (relay-pipeline) running one flow, `relay pipeline`, which trains and
registers a champion through that server, and two API replicas (relay-api) that load it from the server and
serve predictions, logged to PostgreSQL. Everything started here is removed at the end: the containers
with `docker-compose down`, the podman API service by its PID, the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from pipelines.flows.common import free_port
from pipelines.flows.service import stop_service
from tests.conftest import make_workspace
from tests.containers.conftest import open_to_all
from tests.helpers import ORDERS, REPO

pytestmark = pytest.mark.containers
COMPOSE = str(Path(sys.executable).parent / "docker-compose")
POSTGRES = os.environ.get("RELAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


def wait_for(url: str, service: str, compose: Any, timeout: float) -> None:
    """Until `url` answers 200; fails at once, with the service's log, when its container stops or restarts.

    The timeout is only a bound for a container that neither answers nor stops; on a busy machine a cold
    start is slow, so it is generous, and the log says why whenever it is reached.
    """
    started = time.monotonic()
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        state = compose("ps", "--all", "--format", "{{.State}} {{.Status}}", service).stdout.strip()
        stopped = not state.startswith("running")
        if stopped or time.monotonic() - started > timeout:
            logs = compose("logs", "--no-color", "--tail", "80", service).stdout[-6000:]
            why = f"its container is {state or 'gone'}" if stopped else f"no 200 within {timeout:.0f} s ({state})"
            pytest.fail(f"{service} at {url}: {why}; its log:\n{logs}")
        time.sleep(1)


@pytest.fixture(scope="module")
def stack(podman_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("stack")
    socket_path = work / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        env=podman_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = f"relay_stack_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
    # The workspace the worker's flow runs in: three weeks of orders landed, as a data engineer would.
    ws = make_workspace(work / "ws", params={"ingest": {"rows_per_batch": 3000}, "version": {"reference_rows": 500}})
    from pipelines.core.settings import Settings
    from pipelines.data import ingest

    s = Settings(root=ws)
    for b in (1, 2, 3):
        ingest.run(f"batch-{b:04d}", ingest.generator_chunks(b, 3000, 42), ingest.Landing.from_settings(s))
    artifacts = work / "artifacts"
    artifacts.mkdir()
    open_to_all(ws)
    open_to_all(artifacts)
    ports = {"MLFLOW_PORT": free_port(), "API_PORT_1": free_port(), "API_PORT_2": free_port()}
    env = podman_env | {
        "DOCKER_HOST": f"unix://{socket_path}",
        "COMPOSE_PROJECT_NAME": f"relay-test-{uuid.uuid4().hex[:6]}",
        "STACK_POSTGRES": POSTGRES,
        "STACK_DB": db,
        "STACK_ARTIFACTS": str(artifacts),
        "STACK_WORKSPACE": str(ws),
        # compose.yaml demands these; the services run here do not use them.
        "POSTGRES_PASSWORD": "unused",
        "MINIO_ROOT_PASSWORD": "unused",
        "GRAFANA_ADMIN_PASSWORD": "unused",
        **{k: str(v) for k, v in ports.items()},
    }
    base = [COMPOSE, "-f", str(REPO / "infra" / "compose.yaml"), "-f", str(REPO / "infra" / "compose.test.yaml")]

    def compose(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)

    try:
        started = time.monotonic()
        while not socket_path.exists():
            assert service.poll() is None, "podman system service exited"
            assert time.monotonic() - started < 30, "podman's socket did not appear within 30 s"
            time.sleep(0.2)
        up = compose("up", "-d", "--no-deps", "--no-build", "mlflow")
        assert up.returncode == 0, up.stderr[-3000:]
        wait_for(f"http://127.0.0.1:{ports['MLFLOW_PORT']}/health", "mlflow", compose, 300)
        flow = compose("run", "--rm", "--no-deps", "worker", timeout=600)
        # Compose against podman's socket answers 0 even when the container's command fails, so the flow's
        # own last line is what says it registered a champion; without one the replicas could only wait.
        assert flow.returncode == 0 and "version 1: promoted" in flow.stdout, (flow.stdout + flow.stderr)[-6000:]
        up = compose("up", "-d", "--no-deps", "--no-build", "api", "api-2")
        assert up.returncode == 0, up.stderr[-3000:]
        urls = [f"http://127.0.0.1:{ports[k]}" for k in ("API_PORT_1", "API_PORT_2")]
        for url, replica in zip(urls, ("api", "api-2"), strict=True):
            wait_for(f"{url}/health/ready", replica, compose, 300)
        yield {"urls": urls, "flow": flow.stdout, "db": db, "compose": compose, "mlflow": ports["MLFLOW_PORT"]}
    finally:
        down = compose("down", "--volumes", "--timeout", "10")
        stop_service(service)  # SIGTERM by its PID, then SIGKILL after 30 s
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{db}" WITH (FORCE)'))
        admin.dispose()
        assert down.returncode == 0, down.stderr[-2000:]


def test_the_worker_trained_and_registered_through_the_mlflow_server(stack: dict[str, Any]) -> None:
    assert "version 1: promoted" in stack["flow"], stack["flow"][-3000:]
    from mlflow import MlflowClient

    server = f"http://127.0.0.1:{stack['mlflow']}"
    # The registry too: another test in this process may have left MLflow's global registry URI elsewhere.
    client = MlflowClient(tracking_uri=server, registry_uri=server)
    champion = client.get_model_version_by_alias("relay-returns", "champion")
    assert str(champion.version) == "1" and champion.tags["relay.owner"] == "ml-engineer"


def test_both_replicas_serve_the_champion_and_log_to_postgresql(stack: dict[str, Any]) -> None:
    for url in stack["urls"]:
        r = httpx.post(f"{url}/v1/predict", json=ORDERS.example_record(), timeout=10)
        assert r.status_code == 200, r.text
        assert httpx.get(f"{url}/v1/model", timeout=5).json()["version"] == "1"
    engine = sa.create_engine(f"{POSTGRES}/{stack['db']}")
    try:
        started = time.monotonic()
        rows = 0
        while rows < 2 and time.monotonic() - started < 30:
            time.sleep(0.5)  # the log is written off the request path
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one()
    finally:
        engine.dispose()
    assert rows == 2


def test_the_merged_compose_files_are_valid(stack: dict[str, Any]) -> None:
    done = stack["compose"]("config", "--quiet")
    assert done.returncode == 0, done.stderr

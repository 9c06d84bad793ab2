"""The prediction service against a real MLflow registry: TestClient, and a real uvicorn stopped by SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pipelines.core.prediction_log import read_window
from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from pipelines.flows.service import wait_until_ready
from services.api.schemas import response_model
from tests.helpers import ORDERS, REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def service(trained_workspace: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    from services.api.main import create_app

    s = Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{tmp_path}/log.db", max_batch_size=20)
    with TestClient(create_app(s)) as client:
        yield client, s


def test_health_and_model_info(service: tuple[TestClient, Settings]) -> None:
    client, _ = service
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["model_version"] == "1"
    info = client.get("/v1/model").json()
    assert info["name"] == "relay-returns" and info["version"] == "1" and info["threshold"] > 0


def test_predictions_are_served_and_logged(service: tuple[TestClient, Settings]) -> None:
    client, s = service
    one = client.post("/v1/predict", json=ORDERS.example_record())
    assert one.status_code == 200, one.text
    body = one.json()
    assert 0 <= body["predictions"][0]["probability"] <= 1
    assert one.headers["X-Request-ID"] == body["request_id"]
    records = [ORDERS.example_record() | {"price": 20.0 + 30 * i, "discount": 0.1 * i} for i in range(5)]
    batch = client.post("/v1/predict/batch", json={"records": records})
    assert batch.status_code == 200 and len(batch.json()["predictions"]) == 5
    # The answer is written from plain lists; it must still be the declared response model, and its numbers
    # must be the champion's own, in the order of the records.
    answer = response_model("binary").model_validate_json(batch.content)
    model = client.app.state.models.current  # type: ignore[attr-defined]
    expected = model.predict_records(records)[:, 1]
    assert [p.probability for p in answer.predictions] == pytest.approx(expected, abs=1e-6)
    assert [p.flagged for p in answer.predictions] == [bool(x >= model.threshold) for x in expected]
    client.app.state.prediction_log.close()  # type: ignore[attr-defined]
    logged = read_window(s.prediction_log, ORDERS, 100)
    assert len(logged) == 6 and set(logged["model_version"]) == {"1"}
    assert set(ORDERS.feature_columns()) <= set(logged.columns)
    mine = logged[logged["request_id"] == answer.request_id].sort_values("id")
    assert mine["prediction"].tolist() == [p.probability for p in answer.predictions]
    assert mine["price"].tolist() == [r["price"] for r in records]


def test_bad_requests_name_every_field(service: tuple[TestClient, Settings]) -> None:
    client, _ = service
    bad = ORDERS.example_record() | {"usual_size": "XXXL", "discount": 2}
    r = client.post("/v1/predict", json=bad)
    assert r.status_code == 422
    assert {e["loc"][-1] for e in r.json()["detail"]} == {"usual_size", "discount"}
    r = client.post("/v1/predict/batch", json={"records": [ORDERS.example_record()] * 21})
    assert r.status_code == 422 and "at most 20" in r.text
    r = client.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_openapi_examples_come_from_the_contract(service: tuple[TestClient, Settings]) -> None:
    client, _ = service
    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["Features"]
    assert set(schema["properties"]) == set(ORDERS.feature_columns())
    assert schema["examples"][0] == ORDERS.example_record()


def test_not_ready_without_a_champion(tmp_path: Path) -> None:
    from services.api.main import create_app

    shutil.copy(REPO / "contract.yaml", tmp_path / "contract.yaml")
    s = Settings(root=tmp_path, prediction_log_url=f"sqlite:///{tmp_path}/log.db")
    with TestClient(create_app(s)) as client:
        r = client.get("/health/ready")
        assert r.status_code == 503 and "no registry at" in r.json()["reason"]
        assert client.get("/health/live").status_code == 200
        refused = client.post("/v1/predict", json=ORDERS.example_record())
        assert refused.status_code == 503 and "make pipeline" in refused.json()["detail"]
    assert not (tmp_path / "local" / "mlflow").exists(), "starting the service created an empty registry"


def test_sigterm_flushes_every_logged_prediction(trained_workspace: Path, tmp_path: Path) -> None:
    port = free_port()
    log_url = f"sqlite:///{tmp_path}/log.db"
    env = Settings(root=trained_workspace).child_env() | {"RELAY_PREDICTION_LOG_URL": log_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
        env=env,
        cwd=trained_workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(proc, url, tmp_path / "no-log")  # raises if the service exits or is not ready in time
        sent = 0
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(40):
                r = client.post("/v1/predict/batch", json={"records": [ORDERS.example_record()] * 25})
                assert r.status_code == 200
                sent += 25
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert len(read_window(log_url, ORDERS, 10_000)) == sent == 1000


def test_docs_pages_use_local_assets(service: tuple[TestClient, Settings]) -> None:
    client, _ = service
    for page, asset in (
        ("/docs", "/static-offline-docs/swagger-ui-bundle.js"),
        ("/redoc", "/static-offline-docs/redoc.standalone.js"),
    ):
        html = client.get(page).text
        assert asset in html and "cdn.jsdelivr.net" not in html
        assert client.get(asset).status_code == 200

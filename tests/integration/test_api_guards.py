"""The service's guards and telemetry with a real champion: request ids, 413, API key, CORS, no stack traces,
Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipelines.core.prediction_log import read_window
from pipelines.core.settings import Settings
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration


def _client(root: Path, tmp_path: Path, **settings: Any) -> TestClient:
    from services.api.main import create_app

    s = Settings(root=root, prediction_log_url=f"sqlite:///{tmp_path}/log.db", **settings)
    return TestClient(create_app(s))


@pytest.fixture
def client(trained_workspace: Path, tmp_path: Path) -> Iterator[TestClient]:
    with _client(trained_workspace, tmp_path, max_body_bytes=4000) as c:
        yield c


def test_request_id_is_echoed_logged_and_replaced_when_unsafe(client: TestClient, tmp_path: Path) -> None:
    mine = client.post("/v1/predict", json=ORDERS.example_record(), headers={"X-Request-ID": "checkout-42.a"})
    assert mine.headers["x-request-id"] == "checkout-42.a" == mine.json()["request_id"]
    unsafe = client.post("/v1/predict", json=ORDERS.example_record(), headers={"X-Request-ID": "a b\\c"})
    assert unsafe.headers["x-request-id"] != "a b\\c" and len(unsafe.headers["x-request-id"]) == 32
    assert client.get("/health/live").headers["x-request-id"]
    client.app.state.prediction_log.close()  # type: ignore[attr-defined]
    logged = read_window(f"sqlite:///{tmp_path}/log.db", ORDERS, 10)
    assert "checkout-42.a" in set(logged["request_id"])


def test_oversized_bodies_get_413_before_parsing(client: TestClient) -> None:
    big = {"records": [ORDERS.example_record()] * 40}  # about 9 KB against a 4,000-byte limit
    declared = client.post("/v1/predict/batch", json=big)
    assert declared.status_code == 413 and "4000 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming too
        yield b'{"records": ['
        for _ in range(60):
            yield b'{"brand": "' + b"x" * 100 + b'"},'
        yield b"{}]}"

    streamed = client.post("/v1/predict/batch", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_unhandled_errors_are_500_without_a_stack_trace(client: TestClient) -> None:
    async def broken(records: list[dict[str, Any]]) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    client.app.state.batcher.predict = broken  # type: ignore[attr-defined]
    r = client.post("/v1/predict", json=ORDERS.example_record())
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": r.headers["x-request-id"]}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_api_key_guards_the_scoring_routes_not_the_probes(trained_workspace: Path, tmp_path: Path) -> None:
    with _client(trained_workspace, tmp_path, api_key="s3cret") as c:
        assert c.post("/v1/predict", json=ORDERS.example_record()).status_code == 401
        assert c.post("/v1/predict", json=ORDERS.example_record(), headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/predict", json=ORDERS.example_record(), headers={"X-API-Key": "s3cret"}).status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        assert c.get("/v1/model", headers=bearer).status_code == 200
        assert c.get("/health/ready").status_code == 200 and c.get("/metrics").status_code == 200


def test_cors_allows_only_configured_origins(trained_workspace: Path, tmp_path: Path) -> None:
    with _client(trained_workspace, tmp_path, cors_origins=["https://shop.example"]) as c:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        ok = c.options("/v1/predict", headers={"Origin": "https://shop.example", **preflight})
        assert ok.headers.get("access-control-allow-origin") == "https://shop.example"
        other = c.options("/v1/predict", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in other.headers


def test_metrics_count_requests_predictions_and_the_model(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/v1/predict", json=ORDERS.example_record()).status_code == 200
    client.post("/v1/predict", json={"price": "not a number"})
    text = client.get("/metrics").text
    assert 'relay_http_requests_total{method="POST",route="/v1/predict",status="200"} 3.0' in text
    assert 'relay_http_requests_total{method="POST",route="/v1/predict",status="422"} 1.0' in text
    assert 'relay_model_info{model_name="relay-returns",version="1"} 1.0' in text
    assert "relay_prediction_probability_count 3.0" in text
    assert "relay_batch_records_count" in text and "relay_http_request_duration_seconds_bucket" in text


def test_a_client_that_sends_the_whole_oversized_body_first_still_reads_413(
    trained_workspace: Path, tmp_path: Path
) -> None:
    """Issue 21: urllib writes all 20 MB before reading; the guard answered from Content-Length at once and
    closed, so the client saw a connection reset instead of the 413."""
    import threading
    import urllib.error
    import urllib.request

    import uvicorn

    from pipelines.flows.common import free_port
    from services.api.main import create_app

    s = Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{tmp_path}/log.db", max_body_bytes=4000)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.1)
        for body in (b"x" * (20 * 1024 * 1024), b"y" * 5000):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/predict", data=body, headers={"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=60)
            assert refused.value.code == 413 and "4000 bytes" in refused.value.read().decode()
    finally:
        server.should_exit = True
        thread.join(30)

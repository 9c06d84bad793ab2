"""Property-based requests from the service's own OpenAPI schema (schemathesis): valid bodies, and invalid
ones (wrong types, missing and extra fields, out-of-range numbers, odd strings). Whatever comes in, the
answer is never a 5xx, and every valid body is answered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from pipelines.core.settings import Settings

pytestmark = pytest.mark.integration
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Negative cases need something to break: the GET routes take no input, so they are fuzzed with valid calls only.
CASES = [
    ("/v1/predict", "POST", POSITIVE),
    ("/v1/predict", "POST", NEGATIVE),
    ("/v1/predict/batch", "POST", POSITIVE),
    ("/v1/predict/batch", "POST", NEGATIVE),
    ("/v1/model", "GET", POSITIVE),
    ("/health/ready", "GET", POSITIVE),
    # part:protocols:begin
    ("/invocations", "POST", POSITIVE),
    ("/invocations", "POST", NEGATIVE),
    ("/v2/models/{model_name}/infer", "POST", POSITIVE),
    ("/v2/models/{model_name}/infer", "POST", NEGATIVE),
    ("/v2/models/{model_name}/versions/{model_version}", "GET", POSITIVE),
    ("/v2/models/{model_name}/ready", "GET", POSITIVE),
    ("/v2", "GET", POSITIVE),
    ("/ping", "GET", POSITIVE),
    # part:protocols:end
]


def _fuzz(schema: Any, path: str, method: str, mode: Any) -> None:
    @given(case=schema[path][method].as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        response = case.call()
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:300]}"
        # Relay's own bodies are the contract's, so a valid one is always answered; the other protocols' bodies
        # (tensors, MLflow's data frames) can be valid JSON for their schema and still not hold the contract's records.
        if mode == POSITIVE and method == "POST" and path.startswith("/v1/"):
            assert response.status_code == 200, f"valid body refused: {response.text[:300]}"

    check()


def test_no_generated_request_makes_the_service_fail(trained_workspace: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from services.api.main import create_app

    app = create_app(
        Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{tmp_path}/log.db", max_batch_size=50)
    )
    with TestClient(app):  # runs the lifespan: champion loaded, batcher and log writer started
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for path, method, mode in CASES:
            _fuzz(schema, path, method, mode)

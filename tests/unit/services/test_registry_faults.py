"""A missing registry is reported, never created, by reads and by the service; the API key is compared in
constant time. The real service against a store that comes and goes: tests/integration/test_registry_faults.py."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.core.lineage import NoRegistryError, configure_mlflow, require_store
from pipelines.flows.common import free_port
from services.api import observability
from services.api.model_store import ModelStore
from services.api.routes import model
from tests.helpers import ORDERS


def test_reads_refuse_a_missing_store_and_only_writers_create_one(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'local' / 'mlflow' / 'mlflow.db'}"
    with pytest.raises(NoRegistryError, match=r"^no registry at sqlite:///.*; run `make pipeline`"):
        configure_mlflow(uri)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NoRegistryError):
        require_store((tmp_path / "mlruns").as_uri())
    configure_mlflow(uri, create=True)  # the track and register stages
    assert (tmp_path / "local" / "mlflow").is_dir()


def test_a_database_that_cannot_be_reached_is_one_quick_error() -> None:
    with pytest.raises(ConnectionError, match=r"cannot be used: .*refused"):
        require_store(f"postgresql+psycopg://relay@127.0.0.1:{free_port()}/mlflow")


def test_the_service_reports_a_missing_store_and_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "mlflow" / "mlflow.db"
    store = ModelStore("relay-returns", 60, f"sqlite:///{db}", ORDERS)
    app = FastAPI()
    app.state.models = store
    app.include_router(model.router)
    with TestClient(app) as client:
        reload = client.post("/v1/model/reload")
        assert reload.status_code == 503 and reload.json()["detail"].startswith("no registry at sqlite:///")
        info = client.get("/v1/model").json()
        assert info["version"] is None and info["last_reload_error"] == reload.json()["detail"]
    assert store.refresh() == store.last_error and not db.parent.exists()


def test_the_api_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = secrets.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(observability.secrets, "compare_digest", spy)
    app = FastAPI()
    app.get("/v1/thing")(lambda: {"ok": True})
    guarded = observability.Guard(app, metrics=observability.Metrics(), max_body_bytes=1024, api_key="s3cret")
    with TestClient(guarded) as client:
        codes = [
            client.get("/v1/thing", headers=h).status_code
            for h in ({"X-API-Key": "s3cret"}, {"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cre"}, {})
        ]
        # A key that is not ASCII is refused like any wrong key, not a server error.
        codes.append(client.get("/v1/thing", headers={"X-API-Key": "s3crét".encode()}).status_code)
    assert codes == [200, 200, 401, 401, 401]
    assert [given for given, _ in compared][:4] == [b"s3cret", b"s3cret", b"s3cre", b""] and len(compared) == 5
    assert {expected for _, expected in compared} == {b"s3cret"}

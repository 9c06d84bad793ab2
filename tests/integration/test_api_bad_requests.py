"""A corpus of bad requests: each gets a 4xx that names the problem, never a 5xx, and nothing is logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipelines.core.settings import Settings
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration
GOOD = ORDERS.example_record()
NUMERIC = next(c for c in ORDERS.feature_columns() if ORDERS.column(c).kind == "numeric")
CATEGORY = next(c for c in ORDERS.feature_columns() if ORDERS.column(c).allowed)

CORPUS: list[tuple[str, str, Any, int, str]] = [
    # (name, route, body (bytes = raw), status, text the answer must contain)
    ("malformed JSON", "/v1/predict", b'{"price": 1,', 422, "json"),
    ("not an object", "/v1/predict", b"[1, 2, 3]", 422, "dict"),
    ("empty body", "/v1/predict", b"", 422, "missing"),
    ("wrong type", "/v1/predict", GOOD | {NUMERIC: "tall"}, 422, NUMERIC),
    ("missing field", "/v1/predict", {k: v for k, v in GOOD.items() if k != NUMERIC}, 422, NUMERIC),
    ("extra field", "/v1/predict", GOOD | {"coupon": "X"}, 422, "coupon"),
    ("NaN", "/v1/predict", f'{{"{NUMERIC}": NaN}}'.encode(), 422, NUMERIC),
    ("Infinity", "/v1/predict", f'{{"{NUMERIC}": Infinity}}'.encode(), 422, NUMERIC),
    ("huge string", "/v1/predict", GOOD | {CATEGORY: "x" * 100_000}, 422, CATEGORY),
    ("unknown category", "/v1/predict", GOOD | {CATEGORY: "no-such-value"}, 422, CATEGORY),
    ("null where required", "/v1/predict", GOOD | {CATEGORY: None}, 422, CATEGORY),
    ("empty batch", "/v1/predict/batch", {"records": []}, 422, "records"),
    ("batch not a list", "/v1/predict/batch", {"records": GOOD}, 422, "records"),
    ("batch with one bad record", "/v1/predict/batch", {"records": [GOOD, GOOD | {NUMERIC: -1e9}]}, 422, "1"),
    ("batch over the limit", "/v1/predict/batch", {"records": [GOOD] * 11}, 422, "at most 10"),
]


@pytest.fixture(scope="module")
def client(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from services.api.main import create_app

    log = tmp_path_factory.mktemp("bad") / "log.db"
    app = create_app(Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{log}", max_batch_size=10))
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_request_gets_a_clear_4xx(client: TestClient, case: tuple[str, str, Any, int, str]) -> None:
    name, route, body, status, named = case
    if isinstance(body, bytes):
        r = client.post(route, content=body, headers={"Content-Type": "application/json"})
    else:
        r = client.post(route, json=body)
    assert r.status_code == status, f"{name}: {r.status_code} {r.text[:300]}"
    assert named.lower() in r.text.lower(), f"{name}: the answer does not name {named!r}: {r.text[:300]}"
    assert "Traceback" not in r.text


def test_nothing_bad_reaches_the_prediction_log(client: TestClient) -> None:
    assert client.app.state.prediction_log.written == 0  # type: ignore[attr-defined]

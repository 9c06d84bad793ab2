"""The service's other protocols (the protocols part), driven by their real clients against `relay serve`:
MLflow's `ScoringServerClient` on `/invocations` and `tritonclient.http` on the Open Inference Protocol v2. The
same records answered by `/v1` and by the champion's own MLflow pyfunc give the same numbers; every request is
validated, logged with its protocol and traced by `relay lineage`; the API key and the metrics cover them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.core.prediction_log import read_window
from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from pipelines.flows.service import poll_until, wait_until_ready
from tests.helpers import ORDERS, REPO

pytestmark = pytest.mark.integration
MODEL = "relay-returns"


def _records() -> list[dict[str, Any]]:
    """Six orders, one without the customer's weight (nullable in the contract)."""
    example = ORDERS.example_record()
    sizes = ["XS", "S", "M", "L", "XL", "XXL"]
    records = [example | {"price": 15.0 + 40 * i, "discount": 0.05 * i, "ordered_size": sizes[i]} for i in range(6)]
    records[2]["customer_weight_kg"] = None
    return records


RECORDS = _records()


@pytest.fixture(scope="module")
def service(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """`relay serve` on a free port of 127.0.0.1, as users start it; stopped by its PID at the end."""
    logs = tmp_path_factory.mktemp("protocols")
    s = Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{logs}/log.db")
    port = free_port()
    with (logs / "serve.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
            env=s.child_env(),
            cwd=trained_workspace,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, url, logs / "serve.log")
        yield url, s
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _v1(url: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = httpx.post(f"{url}/v1/predict/batch", json={"records": records}, timeout=10)
    assert r.status_code == 200, r.text
    predictions: list[dict[str, Any]] = r.json()["predictions"]
    return predictions


def test_mlflow_client_gets_the_champions_pyfunc_answer_and_v1s_numbers(service: tuple[str, Settings]) -> None:
    from mlflow.deployments import PredictionsResponse
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    url, s = service
    host, port = url.removeprefix("http://").split(":")
    client = ScoringServerClient(host, port)
    client.ping()  # raises unless 200
    assert client.get_version() == _mlflow_version()
    frame = pd.DataFrame(RECORDS)  # the missing weight is NaN here, as data frames write it
    answer = client.invoke(frame)
    assert isinstance(answer, PredictionsResponse)
    got = np.asarray(answer.get_predictions(predictions_format="ndarray"))
    assert got.shape == (len(RECORDS), 2)  # predict_proba: negative, positive
    # What `mlflow models serve` would answer: the champion's pyfunc, on the same frame.
    assert got == pytest.approx(_pyfunc_predictions(s, frame), abs=1e-12)
    v1 = _v1(url, RECORDS)
    assert got[:, 1] == pytest.approx([p["probability"] for p in v1], abs=1e-6)  # /v1 rounds to 6 digits


def test_every_mlflow_input_form_and_csv_give_the_same_answer(service: tuple[str, Settings]) -> None:
    url, _ = service
    columns = list(RECORDS[0])
    bodies: list[dict[str, Any]] = [
        {"dataframe_split": {"columns": columns, "data": [list(r.values()) for r in RECORDS], "index": [0, 1, 2]}},
        {"dataframe_records": RECORDS, "params": {"ignored": True}},
        {"instances": RECORDS},
        {"inputs": {c: [r[c] for r in RECORDS] for c in columns}},
        {"inputs": RECORDS},
    ]
    answers = [httpx.post(f"{url}/invocations", json=b, timeout=10) for b in bodies]
    csv = pd.DataFrame(RECORDS).to_csv(index=False)
    answers.append(httpx.post(f"{url}/invocations", content=csv, headers={"Content-Type": "text/csv"}, timeout=10))
    for r in answers:
        assert r.status_code == 200, r.text
    first = answers[0].json()["predictions"]
    assert len(first) == len(RECORDS) and all(r.json()["predictions"] == first for r in answers)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        ({"dataframe_records": [ORDERS.example_record() | {"price": "49.9"}]}, "application/json", 400, "price"),
        ({"dataframe_records": [ORDERS.example_record() | {"discount": True}]}, "application/json", 400, "discount"),
        (
            {"instances": [ORDERS.example_record()], "inputs": [ORDERS.example_record()]},
            "application/json",
            400,
            "one of",
        ),
        ({"dataframe_records": [ORDERS.example_record()]}, "application/xml", 415, "content types"),
        ({"dataframe_records": [ORDERS.example_record()]}, "application/json; charset=latin-1", 415, "UTF-8"),
    ],
)
def test_mlflow_refusals_are_mlflows(
    service: tuple[str, Settings], body: dict[str, Any], content_type: str, status: int, words: str
) -> None:
    url, _ = service
    r = httpx.post(f"{url}/invocations", content=json.dumps(body), headers={"Content-Type": content_type}, timeout=10)
    assert r.status_code == status and words in r.text
    if status == 400:  # MLflow's own error body; 415 is plain text, as MLflow sends it
        assert r.json()["error_code"] == "BAD_REQUEST" and "\n" not in r.json()["message"]


def test_triton_client_reads_the_metadata_and_gets_v1s_numbers(service: tuple[str, Settings]) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    url, _ = service
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
        assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
        metadata = client.get_model_metadata(MODEL)
        version = metadata["versions"][0]
        assert client.is_model_ready(MODEL, version) and not client.is_model_ready(MODEL, "999")
        kinds = {t["name"]: t["datatype"] for t in metadata["inputs"]}
        assert list(kinds) == ORDERS.feature_columns() and kinds["price"] == "FP64" and kinds["brand"] == "BYTES"
        assert [t["name"] for t in metadata["outputs"]] == ["probability", "label"]
        v1 = _v1(url, RECORDS)
        # Binary tensors (tritonclient's default), then JSON ones, and a named version: the same answer.
        for binary, model_version in ((True, ""), (False, version)):
            inputs = _tensors(triton, kinds, binary)
            result = client.infer(MODEL, inputs, model_version=model_version, request_id=f"oip-{binary}")
            assert result.as_numpy("probability") == pytest.approx([p["probability"] for p in v1], abs=1e-6)
            assert result.as_numpy("label").tolist() == [p["label"] for p in v1]
            response = result.get_response()
            assert response["id"] == f"oip-{binary}" and response["model_version"] == version
        with pytest.raises(InferenceServerException, match="not served here") as wrong:
            client.infer(MODEL, _tensors(triton, kinds, False), model_version="999")
        assert wrong.value.status() == "404"
        with pytest.raises(InferenceServerException, match=r"input 'price' is BYTES; it takes .*'FP64'"):
            text = np.array([str(r["price"]) for r in RECORDS], dtype=object)
            client.infer(MODEL, _tensors(triton, kinds, True, price=text))
    finally:
        client.close()


def _tensors(triton: Any, kinds: dict[str, str], binary: bool, **override: np.ndarray) -> list[Any]:
    """One input tensor per feature, built from the model's metadata as a Triton user would."""
    tensors = []
    for name, kind in kinds.items():
        datatype = "BYTES" if name in override else kind
        if name in override:
            values = override[name]
        elif datatype == "FP64":
            values = np.array([np.nan if r[name] is None else r[name] for r in RECORDS], dtype=np.float64)
        else:
            values = np.array([r[name] for r in RECORDS], dtype=object)
        tensor = triton.InferInput(name, list(values.shape), datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        tensors.append(tensor)
    return tensors


def test_open_inference_refusals_are_its_error_objects(service: tuple[str, Settings]) -> None:
    url, _ = service
    one = {"name": "price", "shape": [1], "datatype": "FP64", "data": [49.9]}
    record = ORDERS.example_record() | {"price": "49.9"}  # a number as text: refused, as /v1 refuses it
    text = [
        {"name": n, "shape": [1], "datatype": "FP64" if n in ORDERS.numeric_features() else "BYTES", "data": [v]}
        for n, v in record.items()
    ]
    cases = [
        (f"{url}/v2/models/{MODEL}/infer", {"inputs": text}, 400, "'price' element 0: Input should be a valid number"),
        (f"{url}/v2/models/other/infer", {"inputs": [one]}, 404, "not served here"),
        (f"{url}/v2/models/{MODEL}/infer", {"inputs": [one]}, 400, "missing inputs"),
        (f"{url}/v2/models/{MODEL}/infer", {"inputs": "x"}, 400, "inputs"),
        (f"{url}/v2/models/{MODEL}/infer", {"inputs": [one | {"shape": [2]}]}, 400, "shape"),
    ]
    for where, body, status, words in cases:
        r = httpx.post(where, json=body, timeout=10)
        assert r.status_code == status and words in r.json()["error"], r.text
    assert httpx.get(f"{url}/v2/models/other", timeout=10).status_code == 404
    assert httpx.get(f"{url}/v2/health/live", timeout=10).json() == {"live": True}


def test_one_path_inside_log_metrics_and_lineage(
    service: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request by each protocol: logged with its protocol under its id, counted under its route, traced."""
    url, s = service
    ids = {"relay": "lineage-relay", "mlflow": "lineage-mlflow", "open-inference": "lineage-oip"}
    record = ORDERS.example_record()
    httpx.post(f"{url}/v1/predict", json=record, headers={"X-Request-ID": ids["relay"]}, timeout=10)
    httpx.post(f"{url}/invocations", json={"instances": [record]}, headers={"X-Request-ID": ids["mlflow"]}, timeout=10)
    tensors = [
        {"name": n, "shape": [1], "datatype": "FP64" if n in ORDERS.numeric_features() else "BYTES", "data": [v]}
        for n, v in record.items()
    ]
    r = httpx.post(f"{url}/v2/models/{MODEL}/infer", json={"id": ids["open-inference"], "inputs": tensors}, timeout=10)
    assert r.headers["x-request-id"] == ids["open-inference"] == r.json()["id"]
    for protocol, request_id in ids.items():
        rows = poll_until_logged(s, request_id)
        assert rows["protocol"].tolist() == [protocol] and rows["price"].tolist() == [record["price"]]
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    for route in ("/invocations", "/v2/models/{model_name}/infer"):
        assert f'relay_http_requests_total{{method="POST",route="{route}",status="200"}}' in metrics
    # part:lineage:begin
    from pipelines.cli.lineage import trace

    monkeypatch.setenv("RELAY_ROOT", str(s.root))
    monkeypatch.setenv("RELAY_PREDICTION_LOG_URL", s.prediction_log)
    for request_id in ids.values():
        links = trace(request_id).links
        assert [link.stage for link in links] == ["serve", "register", "track", "version", "code"]
        assert links[0].facts["features"] == record
    # part:lineage:end


def poll_until_logged(s: Settings, request_id: str) -> pd.DataFrame:
    found: list[pd.DataFrame] = []

    def logged() -> bool:
        window = read_window(s.prediction_log, s.contract, 100_000)
        found[:] = [window[window["request_id"] == request_id].reset_index(drop=True)]
        return not found[0].empty

    poll_until(logged, 10, f"request {request_id} never reached the prediction log")
    return found[0]


def _docs_examples(language: str) -> list[str]:
    """The examples of docs/serving.md's section on the protocols, in order."""
    text = (REPO / "docs" / "serving.md").read_text()
    section = text.split("\n## MLflow's and the Open Inference protocols\n")[1].split("\n## ")[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_the_docs_examples_work_as_written(service: tuple[str, Settings]) -> None:
    """Each curl line and client snippet of docs/serving.md, on this service's port instead of 8000."""
    url, _ = service
    port = url.rsplit(":", 1)[1]
    commands, snippets = _docs_examples("bash"), _docs_examples("python")
    assert len(commands) == 2 and len(snippets) == 2, "docs/serving.md lost an example of a protocol"
    for command in commands:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command.replace("localhost:8000", f"127.0.0.1:{port}")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        answer = json.loads(done.stdout)
        assert done.returncode == 0 and ("predictions" in answer or "outputs" in answer), done.stdout + done.stderr
    for snippet in snippets:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(snippet.replace("8000", port), "docs/serving.md", "exec"), {})
        assert printed.getvalue().strip(), snippet


def test_the_api_key_guards_the_protocols_scoring_routes(trained_workspace: Path, tmp_path: Path) -> None:
    from services.api.main import create_app

    s = Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{tmp_path}/log.db", api_key="s3cret")
    with TestClient(create_app(s)) as c:
        body = {"instances": [ORDERS.example_record()]}
        refused = c.post("/invocations", json=body)
        assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED", refused.text
        assert "API key" in refused.json()["message"] and refused.headers["x-request-id"]
        assert c.post("/invocations", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        refused = c.get(f"/v2/models/{MODEL}")
        assert refused.status_code == 401 and set(refused.json()) == {"error"}, refused.text
        assert c.post("/v1/predict", json=ORDERS.example_record()).json()["request_id"]  # Relay's own shape
        assert c.get(f"/v2/models/{MODEL}", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        for probe in ("/ping", "/health", "/version", "/v2", "/v2/health/live", "/v2/health/ready"):
            assert c.get(probe).status_code == 200, probe


def test_a_body_too_large_is_refused_in_each_protocols_shape(trained_workspace: Path, tmp_path: Path) -> None:
    from services.api.main import create_app

    s = Settings(root=trained_workspace, prediction_log_url=f"sqlite:///{tmp_path}/log.db", max_body_bytes=1000)
    big = b"x" * 2000
    with TestClient(create_app(s)) as c:
        mlflow = c.post("/invocations", content=big, headers={"content-type": "application/json"})
        assert mlflow.status_code == 413 and mlflow.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED", mlflow.text
        oip = c.post(f"/v2/models/{MODEL}/infer", content=big, headers={"content-type": "application/json"})
        assert oip.status_code == 413 and "over 1000 bytes" in oip.json()["error"], oip.text
        relay = c.post("/v1/predict", content=big, headers={"content-type": "application/json"})
        assert relay.status_code == 413 and set(relay.json()) == {"detail", "request_id"}, relay.text


def _mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


def _pyfunc_predictions(s: Settings, frame: pd.DataFrame) -> np.ndarray:
    import mlflow.pyfunc

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(s.tracking_uri)
    return np.asarray(mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(frame))

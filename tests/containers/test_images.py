"""Relay's images, built and run for real: buildah builds both targets of infra/docker/Dockerfile, podman runs them.

No Docker engine is needed (infra/scripts/containers.sh sets up buildah and podman, as root with apt, and
keeps its base image and layers in a cache outside the checkout). Where the tools cannot be had the tests
are skipped and say why; in CI (CI set) that is a failure. Every container started here is removed at the end.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.flows.common import free_port
from tests.conftest import make_workspace
from tests.containers.conftest import API, PIPELINE, open_to_all, podman
from tests.helpers import ORDERS, copy_workspace

pytestmark = pytest.mark.containers


@pytest.fixture(scope="module")
def model_store(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of a trained workspace: its MLflow store (SQLite and artifacts) holds a champion."""
    ws = copy_workspace(trained_workspace, tmp_path_factory.mktemp("store") / "ws")
    open_to_all(ws)
    return ws


@pytest.fixture(scope="module")
def api(podman_env: dict[str, str], model_store: Path) -> Iterator[dict[str, str]]:
    """The API image serving the champion from the mounted store, on a free port of 127.0.0.1."""
    name, port = f"relay-api-test-{uuid.uuid4().hex[:8]}", free_port()
    run = podman(
        podman_env,
        "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000",
        # The store is mounted at the same path, so the artifact paths it records resolve inside too.
        "-v", f"{model_store}:{model_store}",
        "-e", f"RELAY_MLFLOW_TRACKING_URI=sqlite:///{model_store}/local/mlflow/mlflow.db",
        "-e", "RELAY_PREDICTION_LOG_URL=sqlite:////tmp/predictions.db",
        API,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            # Fail as soon as the container stops; the time bound is for one that neither answers nor stops.
            state = podman(podman_env, "inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running" or time.monotonic() - started > 300:
                done = podman(podman_env, "logs", name)
                why = f"its container is {state or 'gone'}" if state != "running" else "no 200 within 300 s"
                pytest.fail(f"the API container was not ready: {why}; its log:\n{(done.stdout + done.stderr)[-4000:]}")
            time.sleep(1)
        yield {"name": name, "url": url}
    finally:
        podman(podman_env, "rm", "-f", "-t", "10", name)


def test_api_serves_the_champion_from_outside(api: dict[str, str]) -> None:
    r = httpx.post(f"{api['url']}/v1/predict", json=ORDERS.example_record(), timeout=10)
    assert r.status_code == 200, r.text
    assert 0 <= r.json()["predictions"][0]["probability"] <= 1
    assert httpx.get(f"{api['url']}/v1/model", timeout=5).json()["version"] == "1"
    bad = httpx.post(f"{api['url']}/v1/predict", json=ORDERS.example_record() | {"usual_size": "XXXL"}, timeout=10)
    assert bad.status_code == 422


def test_api_runs_as_non_root_and_its_healthcheck_passes(api: dict[str, str], podman_env: dict[str, str]) -> None:
    assert podman(podman_env, "exec", api["name"], "id", "-u").stdout.strip() == "10001"
    check = podman(podman_env, "healthcheck", "run", api["name"])
    assert check.returncode == 0, check.stdout + check.stderr
    image = json.loads(podman(podman_env, "image", "inspect", API).stdout)[0]
    # The HEALTHCHECK survives only in the docker image format (`buildah bud --format docker`).
    assert image["Config"]["User"] == "10001" and image["Healthcheck"]["Test"][0] == "CMD"


def test_images_hold_no_data_models_or_local_state(podman_env: dict[str, str]) -> None:
    for image in (API, PIPELINE):
        listing = podman(podman_env, "run", "--rm", image, "sh", "-c", "ls -A /app").stdout.split()
        # The environment, the project files the settings read, the code, the lock it was installed from and the
        # SBOM of what was installed.
        expected = [".venv", "contract.yaml", "dvc.yaml", "params.yaml", "pipelines", "pyproject.toml", "sbom.cdx.json"]
        assert sorted(listing) == [*expected, "services", "uv.lock"], image
    # MLflow's S3 artifact store needs boto3 (the stack's MLflow server keeps artifacts in MinIO); DVC, git.
    probe = "import boto3, dvc, prefect, evidently"
    assert podman(podman_env, "run", "--rm", PIPELINE, "python", "-c", probe).returncode == 0
    assert podman(podman_env, "run", "--rm", PIPELINE, "git", "--version").returncode == 0
    # The service's image leaves out what only the pipeline uses.
    probe = "import importlib.util as u; print([m for m in ('evidently', 'prefect', 'dvc') if u.find_spec(m)])"
    assert podman(podman_env, "run", "--rm", API, "python", "-c", probe).stdout.strip() == "[]"


def test_each_image_has_the_sbom_of_what_it_holds_beside_it(podman_env: dict[str, str]) -> None:
    """The build writes a CycloneDX SBOM next to each image; it lists exactly the packages installed in it."""
    images = Path(podman_env["RELAY_CONTAINERS_DIR"]) / "images"
    main = {
        API: {"fastapi", "uvicorn", "mlflow-skinny", "scikit-learn", "pandas", "pydantic"},
        PIPELINE: {"dvc", "prefect", "evidently", "mlflow", "scikit-learn", "pandas"},
    }
    listed = "import importlib.metadata as m; print(*sorted({d.metadata['Name'] for d in m.distributions()}))"
    for image, target in ((API, "api"), (PIPELINE, "pipeline")):
        sbom = json.loads((images / f"relay-{target}-dev.cdx.json").read_text())
        assert sbom["bomFormat"] == "CycloneDX" and sbom["metadata"]["component"]["name"] == "relay"
        names = {_canonical(c["name"]) for c in sbom["components"]}
        assert main[image] <= names, image
        installed = podman(podman_env, "run", "--rm", image, "python", "-c", listed).stdout.split()
        assert names == {_canonical(n) for n in installed} - {"relay"}, image
    api = {_canonical(c["name"]) for c in json.loads((images / "relay-api-dev.cdx.json").read_text())["components"]}
    assert not api & {"prefect", "evidently", "dvc", "flask"}, "the SBOM lists what the api image leaves out"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_pipeline_image_runs_the_cli_and_a_stage(podman_env: dict[str, str], tmp_path: Path) -> None:
    help_ = podman(podman_env, "run", "--rm", PIPELINE)
    assert help_.returncode == 0 and "Relay: an MLOps reference pipeline" in help_.stdout
    ws = make_workspace(tmp_path / "ws")
    open_to_all(ws)
    ingest = podman(
        podman_env,
        "run", "--rm", "-v", f"{ws}:/work", "-e", "RELAY_ROOT=/work", "-w", "/work",
        PIPELINE, "relay", "data", "ingest", "--batch", "7",
    )  # fmt: skip
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert (ws / "data" / "raw" / "batch-0007.parquet").is_file()

"""Shared fixtures: a throw-away Relay workspace with its own git repo, DVC cache and remote, MLflow store
and prediction log, so tests never touch the developer's checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# pytest-xdist's workers inherit COLUMNS=80 and LINES=24; rich fixes a console's width from COLUMNS when the
# console is made, so tables would be cut at 80 columns whatever width a test asks its CLI runner for.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

from pipelines.core.contract import Contract
from pipelines.core.contract import load as load_contract
from pipelines.core.settings import apply_tool_env
from tests.helpers import copy_workspace

REPO = Path(__file__).resolve().parents[1]
_SHARED_PREFECT = pytest.StashKey[Any]()
WORKSPACE_FILES = (
    "pipelines",
    "services",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "roles.md",
    ".github",
    "pyproject.toml",
    "data/.gitignore",
    "contract.yaml",
)

# The tools' environment as every `relay` command sets it (telemetry off, quiet logs, Prefect's batched
# writes), before any test imports MLflow, DVC or Prefect.
apply_tool_env()


@pytest.fixture(scope="session")
def contract() -> Contract:
    """The data contract shipped in contract.yaml (the demo's orders)."""
    return load_contract(REPO / "contract.yaml")


@pytest.fixture(autouse=True)
def _no_relay_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the RELAY_* variables they need; none leak in from the developer's shell or other tests."""
    for key in [k for k in os.environ if k.startswith("RELAY_")]:
        monkeypatch.delenv(key)


def make_workspace(dest: Path, params: dict[str, dict[str, object]] | None = None) -> Path:
    """Copy the project's pipeline definition into `dest` and make it a git + DVC repository."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKSPACE_FILES:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    # The tests tell the demo's story on the synthetic generator, whatever first source the project's own
    # params.yaml names (a project made with `relay new --source file` keeps passing its tests).
    data = yaml.safe_load((dest / "params.yaml").read_text())
    if params or data["ingest"].get("source") != "generator":
        data["ingest"] |= {"source": "generator", "path": None}
        for section, values in (params or {}).items():
            data.setdefault(section, {}).update(values)
        (dest / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    git = ["git", "-c", "user.name=relay-test", "-c", "user.email=test@relay.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "workspace"], cwd=dest, check=True)
    return dest


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_workspace(tmp_path / "ws")
    monkeypatch.setenv("RELAY_ROOT", str(root))
    monkeypatch.setenv("PREFECT_HOME", str(root / "local" / "prefect"))
    # DVC runs stage commands (`relay stage ...`) through the shell: the venv's bin must be on PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    (root / "local" / "prefect").mkdir(parents=True)
    monkeypatch.chdir(root)
    yield root


def _train(root: Path) -> None:
    """Run the training flow once in the workspace `root` on three small generated batches."""
    saved = dict(os.environ)
    os.environ["RELAY_ROOT"] = str(root)
    os.environ["PREFECT_HOME"] = str(root / "local" / "prefect")
    (root / "local" / "prefect").mkdir(parents=True)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        from pipelines.core.settings import Settings
        from pipelines.data import ingest
        from pipelines.flows.training import training_flow

        s = Settings()
        for b in (1, 2, 3):
            ingest.run(f"batch-{b:04d}", ingest.generator_chunks(b, 4000, 42), ingest.Landing.from_settings(s))
        training_flow(trigger="manual", settings=s)
    finally:
        # The flow exports RELAY_* for its subprocesses; other tests must not inherit them.
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace after the training flow ran once on small data: DVC outputs, MLflow run, champion.

    It is trained once per test run, not once per xdist worker (about 40 s of CPU each): the first worker to
    ask trains it in the run's shared temporary folder under a file lock, and every worker gets a copy of its
    own, so no worker sees what another writes.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    built = shared / "trained-once"
    with FileLock(shared / "trained-once.lock"):
        if not (built / "done").exists():
            shutil.rmtree(built, ignore_errors=True)  # a worker that failed half-way left this
            root = make_workspace(
                built / "ws",
                params={"ingest": {"rows_per_batch": 4000}, "version": {"reference_rows": 1000}},
            )
            _train(root)
            (built / "done").touch()
    return copy_workspace(built / "ws", tmp_path_factory.mktemp("trained") / "ws")


# The test files that take longest, longest first (measured; docs/benchmarks.md, "The test suite"). `make test`
# runs pytest-xdist with --dist loadfile --no-loadscope-reorder, which hands files to the two workers in this
# order: started last, any one of them would leave a worker idle for minutes while the other finishes it.
LONGEST_FIRST = (
    "tests/e2e/test_task_kinds.py",
    "tests/containers/test_stack.py",  # part:containers
    "tests/integration/test_retraining_loop.py",
    "tests/e2e/test_byo_guide.py",  # part:teaching
    "tests/e2e/test_new_project.py",  # part:template-only
    "tests/e2e/test_readme_loop.py",
    "tests/integration/test_prefect_deploy.py",  # part:prefect-server
    "tests/e2e/test_demo.py",  # part:teaching
    "tests/contracts/test_monitoring_contract.py",
    "tests/integration/test_sweep_clusters.py",  # part:experiments
    "tests/integration/test_monitor_scenarios.py",
    "tests/integration/test_api_protocols.py",  # part:protocols
    "tests/integration/test_alerts.py",  # part:containers
)


def pytest_configure(config: pytest.Config) -> None:
    """Start the run's Prefect server (tests/prefect_server.py) in the controlling process, before the workers
    start and import Prefect, which reads PREFECT_API_URL once. Not for a run of the fast tests alone, nor for
    one that only collects."""
    if hasattr(config, "workerinput") or "not integration" in (config.getoption("markexpr") or ""):
        return
    if config.getoption("collectonly"):
        return
    if os.environ.get("PREFECT_API_URL"):  # the developer's own server
        return
    from tests import prefect_server

    server = prefect_server.start()
    config.stash[_SHARED_PREFECT] = server
    os.environ["PREFECT_API_URL"] = os.environ[prefect_server.SHARED_MARK] = server.api_url


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SHARED_PREFECT, None)
    if server is not None:
        from tests import prefect_server

        server.stop()
        os.environ.pop("PREFECT_API_URL", None)
        os.environ.pop(prefect_server.SHARED_MARK, None)


@pytest.fixture(scope="session", autouse=True)
def _prefect_server_answers() -> None:
    """Every test process waits once for the run's Prefect server (it starts while pytest collects)."""
    from tests import prefect_server

    url = os.environ.get("PREFECT_API_URL")
    if url and os.environ.get(prefect_server.SHARED_MARK) == url:
        prefect_server.wait_for(url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))

"""BentoML as a third peer in the serving benchmark, kept out of Relay's own dependencies.

BentoML brings a large dependency tree of its own (a circus fork, aiohttp, OpenTelemetry, pyzmq, …) that
Relay never uses, so it must not enter pyproject.toml or uv.lock. Instead it gets an isolated venv under
`<root>/.bench/bentoml`, built with uv on the calling process's interpreter, holding exactly the calling
process's scikit-learn, NumPy, pandas, SciPy and joblib. A pickled Pipeline is only guaranteed to load,
and to give the same numbers, under the versions that wrote it.

`start` runs `benchmarks/bentoml_service.py` under `bentoml serve` in a session of its own, so `stop` can
end the server and every worker it forked through one process-group id: the PID that `start` returned.

    python = ensure_env(REPO)
    proc = start(python, model_path, columns, port, max_latency_ms=10, log=work / "bentoml.log")
    try:
        ...  # poll READY_PATH, then POST single_body(record) to PREDICT_PATH
    finally:
        stop(proc)
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVICE = "benchmarks.bentoml_service:RelayBench"
# The service is written against the 1.4 API (`@bentoml.service`, `@bentoml.api`); a later minor version
# may change it, so it is not taken unseen.
BENTOML_SPEC = "bentoml>=1.4,<1.5"
# uvloop and httptools, which Relay's service has too: both servers then run on the same event loop and parser.
SERVER_EXTRAS = "uvicorn[standard]"
# What the pickled Pipeline is made of: pinned to the calling process's versions.
PINNED = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")


def _uv(root: Path) -> str:
    local = root / ".uv" / "bin" / "uv"
    if local.exists():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run `make install`, which bootstraps .uv/bin/uv")
    return found


def _wanted() -> dict[str, Any]:
    return {
        "python": sys.version,
        "base_prefix": sys.base_prefix,
        "spec": [BENTOML_SPEC, SERVER_EXTRAS, *(f"{name}=={importlib.metadata.version(name)}" for name in PINNED)],
    }


def _matches(python: Path, marker: Path, wanted: dict[str, Any]) -> bool:
    try:
        return python.exists() and json.loads(marker.read_text()) == wanted
    except (OSError, ValueError):
        return False


def ensure_env(root: Path) -> Path:
    """Create the BentoML venv, or reuse it when it already matches; return its python.

    The marker file is written only after a successful install and holds the interpreter and the spec, so
    a second call costs one file read, while an interrupted install or a change to the project's pins
    rebuilds the venv from scratch.
    """
    venv = root / ".bench" / "bentoml"
    python = venv / "bin" / "python"
    marker = venv / ".relay-bench-spec.json"
    wanted = _wanted()
    if _matches(python, marker, wanted):
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Two benchmark runs started together would otherwise both build into the same folder.
    with open(venv.parent / "bentoml.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _matches(python, marker, wanted):
            return python
        uv = _uv(root)
        env = os.environ | {"UV_NO_PROGRESS": "1"}
        # The project venv has no pip and may be active in the caller: name the target venv explicitly.
        env.pop("VIRTUAL_ENV", None)
        subprocess.run([uv, "venv", "--clear", "--python", sys.executable, str(venv)], check=True, env=env)
        # Bytecode at install time, as `make install` does: with PYTHONDONTWRITEBYTECODE set, every server
        # start would otherwise recompile BentoML and SciPy and the first requests would pay for it.
        subprocess.run(
            [uv, "pip", "install", "--python", str(python), "--compile-bytecode", *wanted["spec"]],
            check=True,
            env=env,
        )
        marker.write_text(json.dumps(wanted, indent=2) + "\n")
    return python


def start(  # noqa: PLR0913 (one BentoML server's settings, each passed to its command line or environment)
    python: Path,
    model_path: Path,
    columns: list[str],
    port: int,
    *,
    max_latency_ms: int,
    log: Path,
    max_batch: int = 1024,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `bentoml serve` for the benchmark service on 127.0.0.1:`port`; poll `READY_PATH` before use.

    The server inherits this process's environment plus `extra_env`: a thread setting such as
    OMP_NUM_THREADS reaches BentoML's worker, as it reaches the other servers the benchmark starts.
    """
    env = {
        **os.environ,
        **(extra_env or {}),
        "RELAY_BENCH_MODEL": str(model_path),
        "RELAY_BENCH_COLUMNS": ",".join(columns),
        "RELAY_BENCH_MAX_LATENCY_MS": str(max_latency_ms),
        "RELAY_BENCH_MAX_BATCH": str(max_batch),
        # The service imports as `benchmarks.bentoml_service` from the repository root.
        "PYTHONPATH": str(REPO),
        "BENTOML_DO_NOT_TRACK": "True",
        # BentoML keeps its stores, and a Prometheus folder that every start empties, under BENTOML_HOME
        # (~/bentoml by default): one per server, beside its log, so two servers never share one.
        "BENTOML_HOME": str(log.parent / f"bentoml-home-{port}"),
    }
    # The caller's VIRTUAL_ENV names the project venv, not the one this server runs in.
    env.pop("VIRTUAL_ENV", None)
    # The child keeps its own copy of the log's descriptor; this process's copy is closed at once.
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                str(python.parent / "bentoml"),
                "serve",
                SERVICE,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--working-dir",
                str(REPO),
            ],
            env=env,
            cwd=REPO,
            # BentoML logs its start-up to stdout and its workers' tracebacks to stderr: keep both.
            stdout=out,
            stderr=subprocess.STDOUT,
            # A session of its own: `bentoml serve` is a circus arbiter that forks the worker, and the
            # whole group is stopped through this one PID.
            start_new_session=True,
        )


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen[bytes], seconds: float = 20) -> None:
    """Stop the server and every process it started, by its process-group id (its PID), never by name."""
    for sig, grace in ((signal.SIGTERM, seconds), (signal.SIGKILL, 5.0)):
        if not _signal_group(proc.pid, sig):
            break  # the whole group is gone
        deadline = time.monotonic() + grace
        # Wait for the whole group, not only the arbiter: a worker can outlive it by a moment, and the port
        # is free only when the worker is gone. poll() reaps the arbiter, whose zombie would otherwise
        # keep the group alive.
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _signal_group(proc.pid, 0):
                break
            time.sleep(0.1)
    proc.wait(timeout=10)


# The service's routes (the caller picks host and port).
READY_PATH = "/readyz"
PREDICT_PATH = "/predict"
BATCH_PATH = "/predict_many"


def single_body(record: dict[str, Any]) -> dict[str, Any]:
    """The body for `PREDICT_PATH`: a batchable API's argument is itself a batch, so one record goes as a
    list of one. The answer is a list of one probability. A bare record is a 400."""
    return {"records": [record]}


def batch_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The body for `BATCH_PATH` (or `PREDICT_PATH`): the answer is one probability per record, in order."""
    return {"records": records}

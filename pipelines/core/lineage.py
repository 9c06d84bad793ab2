"""Facts that tie an artifact to where it came from: the git commit and the MLflow set-up."""

from __future__ import annotations

import os
import subprocess
from enum import StrEnum
from pathlib import Path


class Trigger(StrEnum):
    """Why a model was trained; tagged on its MLflow run (`relay.trigger`) and shown by the registry views."""

    INITIAL = "initial"  # the first model of a project (the demo's week 1-4)
    MANUAL = "manual"  # a person ran `relay pipeline` or `dvc repro`
    SCHEDULED = "scheduled"  # a Prefect schedule
    DRIFT = "drift"  # the monitor found drift and enough new labels


def check_trigger(value: str) -> Trigger:
    try:
        return Trigger(value)
    except ValueError:
        known = ", ".join(t.value for t in Trigger)
        raise ValueError(f"unknown training trigger {value!r}; use one of: {known}") from None


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = out.stdout.strip() if out.returncode == 0 else "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return f"{commit}-dirty" if commit != "unknown" and dirty.stdout.strip() else commit


class NoRegistryError(FileNotFoundError):
    """The tracking URI names no store: no SQLite file there, or a database without MLflow's tables."""


def configure_mlflow(tracking_uri: str, *, create: bool = False, probe: bool = False) -> None:
    """Point MLflow at `tracking_uri`, failing fast with a clear message if it cannot be reached.

    MLflow creates an empty store wherever it is pointed, so only the stages that write (track, register,
    the flows around them) pass `create`; for everything else a missing store is `NoRegistryError`, and a
    read never leaves an empty store behind for the next reader to mistake for the real one. With `probe`,
    a writer opens the store too, so a flow can refuse to start rather than train for minutes and then fail
    to record the result.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        import httpx

        try:
            httpx.get(tracking_uri.rstrip("/") + "/health", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise ConnectionError(f"MLflow tracking server {tracking_uri} is unreachable: {exc}") from None
        return
    if not create:
        require_store(tracking_uri)
        return
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConnectionError(f"MLflow tracking store {tracking_uri} cannot be created: {exc}") from None
    if probe:
        if _is_database(tracking_uri):
            _probe_database(tracking_uri)
        try:
            mlflow.MlflowClient().search_experiments(max_results=1)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectionError(f"MLflow tracking store {tracking_uri} cannot be used: {first}") from None


def require_store(tracking_uri: str) -> None:
    """Check, without creating anything, that the store exists: `NoRegistryError` if it does not,
    `ConnectionError` if its database cannot be reached (within seconds, not MLflow's minutes of retries)."""
    if tracking_uri.startswith("sqlite:///"):
        path = tracking_uri.removeprefix("sqlite:///").split("?")[0]
        present = path in ("", ":memory:") or Path(path).is_file()
    elif _is_database(tracking_uri):
        present = _probe_database(tracking_uri)
    elif tracking_uri.startswith("file:"):
        present = Path(tracking_uri.removeprefix("file://").removeprefix("file:")).is_dir()
    else:  # a store Relay cannot look into; MLflow says what is wrong with it
        present = True
    if not present:
        raise NoRegistryError(f"no registry at {tracking_uri}; run `make pipeline` to create it with a first model")


def _is_database(uri: str) -> bool:
    """A server database MLflow keeps its store in (SQLAlchemy URLs such as postgresql+psycopg://)."""
    return uri.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "mysql", "mssql")


def _probe_database(uri: str) -> bool:
    """One quick connection attempt (MLflow's own store retries an unreachable database for minutes); True if
    the database holds MLflow's registry tables."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5}, pool_pre_ping=False)
        try:
            with engine.connect() as conn:
                return sqlalchemy.inspect(conn).has_table("registered_models")
        finally:
            engine.dispose()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectionError(f"MLflow tracking store {uri} cannot be used: {first}") from None

"""Facts that tie an artifact to where it came from: the git commit and the MLflow set-up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


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


def configure_mlflow(tracking_uri: str) -> None:
    """Point MLflow at `tracking_uri`, failing fast with a clear message if it cannot be reached."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        import httpx

        try:
            httpx.get(tracking_uri.rstrip("/") + "/health", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise ConnectionError(f"MLflow tracking server {tracking_uri} is unreachable: {exc}") from None

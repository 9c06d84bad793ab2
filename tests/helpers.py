"""Small helpers shared by tests: the shipped data contract, a way to lay out a dataset folder, and a way to
copy a trained workspace."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from pipelines.core.contract import load as load_contract

if TYPE_CHECKING:
    from pipelines.core.handoffs import MonitorDecision

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ORDERS = load_contract(REPO / "contract.yaml")
# Read once, at import: the tests' autouse fixture hides RELAY_* variables while a test runs.
CHROMIUM = os.environ.get("RELAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def chromium() -> str:
    """The system's Chromium for a browser test: skipped without one, failed in CI (which installs it)."""
    if CHROMIUM is None:
        message = "no chromium: run `make browser` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def write_dataset(folder: Path, train: pd.DataFrame, holdout: pd.DataFrame) -> Path:
    """Lay out `folder` as the version stage does (one file per split here), for stage tests."""
    for split, frame in (("train", train), ("holdout", holdout)):
        (folder / split).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / split / "batch-0001.parquet", index=False)
    return folder


# Where MLflow's store records absolute paths of the workspace it lives in (missing ones are skipped).
_MLFLOW_PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
    ("datasets", "dataset_source"),
)


def copy_workspace(src: Path, dest: Path) -> Path:
    """A copy of the workspace `src` that shares nothing with it: the embedded MLflow store's absolute
    artifact paths are pointed at the copy, so runs and models logged in the copy land in the copy."""
    shutil.copytree(src, dest, symlinks=True)
    db = dest / "local" / "mlflow" / "mlflow.db"
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            for table, column in _MLFLOW_PATH_COLUMNS:
                with contextlib.suppress(sqlite3.OperationalError):  # a column this MLflow version does not have
                    conn.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (str(src), str(dest)))
    return dest


def relay_commands() -> dict[str, Any]:
    import typer.main

    from pipelines.cli.main import app

    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def check_relay_command(argv: list[str], where: str) -> None:
    """`relay <command> [<sub>] --option ...` must name a command and options the CLI has."""
    commands = relay_commands()
    assert argv[1] in commands, f"{where}: `relay {argv[1]}` is not a command"
    command = commands[argv[1]]
    rest = argv[2:]
    # Typer vendors its own copy of click, so a group is recognised by having subcommands. A group that runs
    # itself (`relay monitor`, whose `ui` is a subcommand) may be given only its own options.
    runs_itself = getattr(command, "invoke_without_command", False) and not (rest and rest[0] in command.commands)
    if hasattr(command, "commands") and not runs_itself:
        assert rest and rest[0] in command.commands, f"{where}: `relay {argv[1]} {rest[:1]}` is not a command"
        command, rest = command.commands[rest[0]], rest[1:]
    options = {opt for p in command.params for opt in p.opts + p.secondary_opts}
    for arg in rest:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"{where}: `{arg}` is not an option of `relay {argv[1]}`"


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a checking tool (hadolint, check-jsonschema, promtool...) and keep its output for the message."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, timeout=120)


def relay_settings_variables() -> set[str]:
    """Every RELAY_* variable pipelines/core/settings.py reads."""
    from pipelines.core.settings import Settings

    return {f"RELAY_{name.upper()}" for name in Settings.model_fields}


def sample_decision(
    report: Path | str = "reports/monitoring/20261120T100000Z/report.html", **fields: Any
) -> MonitorDecision:
    """A monitor decision as drift.run writes it, quiet unless `fields` say otherwise (nested models may be
    given as dicts)."""
    from pipelines.core.handoffs import MonitorDecision

    base: dict[str, Any] = {
        "drift": False,
        "drift_share": 0.1,
        "drift_share_threshold": 0.25,
        "drifted_features": [],
        "prediction_drift": False,
        "columns": {},
        "new_categories": {},
        "data_quality": {
            "ok": True,
            "problems": [],
            "missing": {},
            "out_of_range": {},
            "empty_columns": [],
            "max_missing_increase": 0.05,
        },
        "window": {"rows": 5000, "judged_rows": 5000, "sampled": False, "from": None, "to": None},
        "reference_version": "d7b6696293",
        "model_version": "2",
        "created_at": "2026-11-20T10:00:00+00:00",
        "report": str(report),
    }
    return MonitorDecision.model_validate(base | fields)

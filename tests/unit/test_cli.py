from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.data.generator import generate_batch
from tests.conftest import REPO

runner = CliRunner()


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from pipelines.cli.main import app; "
        "heavy = [m for m in ('mlflow', 'prefect', 'evidently', 'dvc', 'sklearn', 'pandas') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_roles_prints_every_stage_and_check_passes() -> None:
    result = runner.invoke(app, ["roles"])
    assert result.exit_code == 0
    for name in (
        "ingest",
        "validate",
        "version",
        "train",
        "evaluate",
        "track",
        "register",
        "serve",
        "monitor",
        "retrain",
    ):
        assert name in result.output
    assert runner.invoke(app, ["roles", "--check"]).exit_code == 0


def test_data_validate_reports_and_stores_nothing(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.parquet"
    generate_batch(1, 100).to_csv(good, index=False)
    frame = generate_batch(1, 100)
    frame.loc[0, "channel"] = "fax"
    frame.to_parquet(bad)
    ok = runner.invoke(app, ["data", "validate", str(good)])
    assert ok.exit_code == 0 and "valid" in ok.output
    fail = runner.invoke(app, ["data", "validate", str(bad)])
    assert fail.exit_code == 1 and "channel" in fail.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "good.csv"]


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and "no such file" in result.output and "Traceback" not in result.output


def test_prefect_home_is_created_with_its_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli.console import quiet_tools

    home = tmp_path / "not" / "yet" / "there"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    quiet_tools()
    assert home.is_dir()

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
        "heavy = [m for m in ('mlflow', 'prefect', 'evidently', 'dvc', 'sklearn', 'pandas', 'pydantic_settings', "
        "'copier') if m in sys.modules]; "
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


def test_conflicting_ingest_options_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    generate_batch(1, 100).to_csv(path, index=False)
    result = runner.invoke(app, ["data", "ingest", "--file", str(path), "--scenario", "new_brand"])
    assert result.exit_code == 1 and "--scenario applies to the synthetic generator only" in result.output


def test_tool_errors_become_one_line(tmp_path: Path) -> None:
    import typer

    from pipelines.cli.console import friendly_errors

    class ToolError(Exception):
        pass

    ToolError.__module__ = "dvc.exceptions"

    @friendly_errors
    def boom() -> None:
        raise ToolError("failed to reproduce 'validate'")

    with pytest.raises(typer.Exit) as info:
        boom()
    assert info.value.exit_code == 1

    @friendly_errors
    def bug() -> None:
        raise ZeroDivisionError("a real bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        bug()


def test_data_validate_takes_delimiter_and_stamps_the_batch_column(tmp_path: Path) -> None:
    path = tmp_path / "week.csv"
    generate_batch(1, 300).drop(columns=["batch_id"]).to_csv(path, index=False, sep=";")
    wrong = runner.invoke(app, ["data", "validate", str(path)])
    assert wrong.exit_code == 1 and "';'-delimited" in wrong.output
    right = runner.invoke(app, ["data", "validate", str(path), "--delimiter", ";"])
    assert right.exit_code == 0, right.output
    assert "300 rows valid" in " ".join(right.output.split())  # rich wraps long temp paths


def test_data_contract_prints_every_column() -> None:
    result = runner.invoke(app, ["data", "contract"])
    assert result.exit_code == 0
    for name in ("order_id", "customer_weight_kg", "usual_size", "returned", "unique"):
        assert name in result.output


def test_bad_contract_is_named_and_exits_2(workspace: Path) -> None:
    (workspace / "contract.yaml").write_text(
        (workspace / "contract.yaml").read_text().replace("    min: 120\n", "    min: 320\n", 1)
    )
    result = runner.invoke(app, ["data", "validate", str(workspace / "params.yaml")])
    assert result.exit_code == 2
    assert "columns.customer_height_cm" in result.output and "min" in result.output


def test_ingest_folder_lands_good_files_and_exits_1_for_a_bad_one(workspace: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    generate_batch(1, 300).drop(columns=["batch_id"]).to_parquet(inbox / "w01.parquet")
    generate_batch(2, 300).drop(columns=["batch_id"]).assign(channel="fax").to_parquet(inbox / "w02.parquet")
    result = runner.invoke(app, ["data", "ingest", "--folder", str(inbox)])
    assert result.exit_code == 1
    assert "landed" in result.output and "refused" in result.output and "w02.parquet" in result.output
    assert sorted(p.name for p in (workspace / "data" / "raw").iterdir()) == ["w01.parquet"]
    both = runner.invoke(app, ["data", "ingest", "--folder", str(inbox), "--file", str(inbox / "w01.parquet")])
    assert both.exit_code == 1 and "one source at a time" in both.output


def test_bad_training_and_sweep_options_exit_2_with_the_choices() -> None:
    trigger = runner.invoke(app, ["pipeline", "--trigger", "whenever"])
    assert trigger.exit_code == 2 and "manual" in trigger.output and "drift" in trigger.output
    # part:experiments:begin
    sweep = runner.invoke(app, ["train", "sweep", "--runner", "spark"])
    assert sweep.exit_code == 2 and "processes, threads, dask or ray" in " ".join(sweep.output.split())
    address = runner.invoke(app, ["train", "sweep", "--address", "tcp://127.0.0.1:9"])
    assert address.exit_code == 2 and "cluster address needs --runner dask" in " ".join(address.output.split())
    trials = runner.invoke(app, ["train", "sweep", "--trials", "0"])
    assert trials.exit_code == 2
    # part:experiments:end


@pytest.mark.slow
def test_replay_without_a_service_names_the_url_and_the_fix() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = runner.invoke(app, ["replay", "--batch", "9", "--url", url])
    assert result.exit_code == 1
    assert f"no prediction service at {url}" in result.output and "make serve" in result.output


def test_replay_refuses_an_unknown_scenario_before_sending() -> None:
    result = runner.invoke(app, ["replay", "--scenario", "heatwave", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "unknown drift scenario(s) ['heatwave']" in result.output

"""`relay lineage`: a prediction traced back through the loop's hand-offs (the lineage part)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli.main import app

runner = CliRunner()


def test_lineage_of_an_unknown_request_is_a_clear_error(workspace: Path) -> None:
    result = runner.invoke(app, ["lineage", "0123abcd"])
    assert result.exit_code == 1 and "no prediction log" in " ".join(result.output.split())

"""`relay score`: a file scored with the champion offline, in chunks, checked against the contract first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.data.generator import generate_batch

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def scoring(trained_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELAY_ROOT", str(trained_workspace))
    monkeypatch.setenv("RELAY_CHUNK_ROWS", "300")  # several chunks from a small file
    return trained_workspace


def test_a_file_is_scored_in_chunks_with_the_model_and_data_versions(scoring: Path, tmp_path: Path) -> None:
    later = generate_batch(9, 1000, 42, [], with_label=False).drop(columns=["batch_id"])
    later.to_csv(tmp_path / "later.csv", index=False)
    for out in (tmp_path / "scored.parquet", tmp_path / "scored.csv"):
        done = runner.invoke(app, ["score", "--file", str(tmp_path / "later.csv"), "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert "scored 1,000 records" in done.output and "v1" in done.output
        scored = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
        assert scored["row"].tolist() == list(range(1000)) and scored["order_id"].tolist() == later["order_id"].tolist()
        assert scored["probability"].between(0, 1).all() and set(scored["label"]) <= {0, 1}
        assert set(scored["model_version"].astype(str)) == {"1"} and scored["data_version"].str.len().min() == 32
    parquet, csv = pd.read_parquet(tmp_path / "scored.parquet"), pd.read_csv(tmp_path / "scored.csv")
    assert parquet["probability"].tolist() == pytest.approx(csv["probability"].tolist())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.assign(note="x"), "unknown note"),
        (lambda f: f.drop(columns=["price"]), "missing price"),
        (lambda f: f.assign(price=f["price"].where(f.index != 700, -5.0)), "row 700: price -5.0"),
    ],
    ids=["unknown-column", "missing-column", "bad-value-in-a-later-chunk"],
)
def test_a_file_that_breaks_the_contract_is_named_and_nothing_is_written(
    scoring: Path, tmp_path: Path, damage: object, message: str
) -> None:
    frame = damage(generate_batch(9, 1000, 42, [], with_label=False))  # type: ignore[operator]
    frame.to_parquet(tmp_path / "bad.parquet")
    out = tmp_path / "scored.parquet"
    done = runner.invoke(app, ["score", "--file", str(tmp_path / "bad.parquet"), "--out", str(out)])
    said = " ".join(done.output.split())
    assert done.exit_code == 1 and message in said and "nothing was scored" in said
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "bad.parquet"]

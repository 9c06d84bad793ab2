from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data import ingest, version
from pipelines.data.generator import generate_batch
from pipelines.data.validate import ContractViolation


def test_ingest_is_idempotent_and_immutable(tmp_path: Path) -> None:
    raw, quarantine = tmp_path / "raw", tmp_path / "q"
    bid, frame = ingest.from_generator(1, 300, 42)
    assert ingest.run(bid, frame, raw, quarantine).status == "landed"
    assert ingest.run(bid, frame, raw, quarantine).status == "unchanged"
    with pytest.raises(FileExistsError, match="already landed"):
        ingest.run(bid, generate_batch(1, 300, seed=7), raw, quarantine)
    pd.testing.assert_frame_equal(pd.read_parquet(raw / f"{bid}.parquet"), frame)


def test_bad_batch_is_quarantined_and_raw_untouched(tmp_path: Path) -> None:
    raw, quarantine = tmp_path / "raw", tmp_path / "q"
    frame = generate_batch(2, 300)
    frame.loc[0, "customer_height_cm"] = 900.0
    with pytest.raises(ContractViolation, match="customer_height_cm"):
        ingest.run("batch-0002", frame, raw, quarantine)
    assert not (raw / "batch-0002.parquet").exists()
    assert (quarantine / "batch-0002.parquet").exists()
    assert "customer_height_cm" in (quarantine / "batch-0002.report.json").read_text()


def test_ingest_from_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    generate_batch(3, 100).to_csv(path, index=False)
    bid, frame = ingest.from_file(path)
    assert bid == "orders" and len(frame) == 100


def test_split_is_stable_as_data_grows(tmp_path: Path) -> None:
    small = pd.concat([generate_batch(b, 500) for b in (1, 2)])
    large = pd.concat([generate_batch(b, 500) for b in (1, 2, 3)])
    h_small = set(small.loc[version.in_holdout(small["order_id"], 0.2), "order_id"])
    h_large = set(large.loc[version.in_holdout(large["order_id"], 0.2), "order_id"])
    assert h_small == h_large & set(small["order_id"])
    assert 0.15 < len(h_large) / len(large) < 0.25


def test_version_outputs_are_deterministic(tmp_path: Path) -> None:
    validated = tmp_path / "orders.parquet"
    pd.concat([generate_batch(b, 400) for b in (1, 2)]).to_parquet(validated)
    m1 = version.run(validated, tmp_path / "a", holdout_share=0.2)
    m2 = version.run(validated, tmp_path / "b", holdout_share=0.2)
    assert m1 == m2 and m1["batches"] == ["batch-0001", "batch-0002"]
    for name in ("train.parquet", "holdout.parquet", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_data_version_without_lock_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        version.data_version(tmp_path)


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "", "x" * 65])
def test_batch_ids_cannot_escape_or_hide(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="batch id"):
        ingest.run(bad, generate_batch(1, 200), tmp_path / "raw", tmp_path / "q")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "escape.parquet").exists()

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data import ingest, version
from pipelines.data.generator import generate_batch
from pipelines.data.sources import SourceError
from pipelines.data.validate import ContractViolation
from tests.helpers import ORDERS


def _land(raw: Path, q: Path, batch: int, rows: int = 300) -> ingest.IngestResult:
    landing = ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q)
    return ingest.run(f"batch-{batch:04d}", ingest.generator_chunks(batch, rows, 42), landing)


def test_ingest_is_idempotent_and_immutable(tmp_path: Path) -> None:
    raw, q = tmp_path / "raw", tmp_path / "q"
    assert _land(raw, q, 1).status == "landed"
    stored = (raw / "batch-0001.parquet").read_bytes()
    assert _land(raw, q, 1).status == "unchanged"
    with pytest.raises(FileExistsError, match="already landed"):
        ingest.run(
            "batch-0001",
            [generate_batch(1, 300, seed=7)],
            ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q),
        )
    assert (raw / "batch-0001.parquet").read_bytes() == stored
    pd.testing.assert_frame_equal(pd.read_parquet(raw / "batch-0001.parquet"), generate_batch(1, 300))
    assert sorted(p.name for p in raw.iterdir()) == ["batch-0001.parquet"]  # no temporary files left


def test_chunked_landing_equals_in_memory(tmp_path: Path) -> None:
    frame = generate_batch(2, 1000)
    chunks = [frame.iloc[i : i + 128] for i in range(0, 1000, 128)]
    ingest.run(
        "batch-0002", chunks, ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q")
    )
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "raw" / "batch-0002.parquet"), frame)


def test_bad_batch_is_quarantined_and_raw_untouched(tmp_path: Path) -> None:
    raw, q = tmp_path / "raw", tmp_path / "q"
    frame = generate_batch(2, 300)
    frame.loc[0, "customer_height_cm"] = 900.0
    with pytest.raises(ContractViolation, match="customer_height_cm") as info:
        ingest.run("batch-0002", [frame], ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q))
    assert "not landed" in str(info.value)
    assert not (raw / "batch-0002.parquet").exists()
    (attempt,) = (q / "batch-0002").iterdir()
    assert "customer_height_cm" in (attempt / "report.json").read_text()
    rows = pd.read_parquet(attempt / "rows.parquet")
    assert list(rows["_row"]) == [0] and "customer_height_cm" in rows["_reason"][0]


def test_tolerated_bad_rows_are_quarantined_and_the_rest_lands(tmp_path: Path) -> None:
    raw, q = tmp_path / "raw", tmp_path / "q"
    frame = generate_batch(3, 1000)
    frame.loc[[10, 20], "channel"] = "fax"
    result = ingest.run(
        "batch-0003", [frame], ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q, max_invalid_share=0.01)
    )
    assert (result.status, result.rows, result.quarantined) == ("landed", 998, 2)
    landed = pd.read_parquet(raw / "batch-0003.parquet")
    assert len(landed) == 998 and "fax" not in set(landed["channel"])
    (attempt,) = (q / "batch-0003").iterdir()
    assert sorted(pd.read_parquet(attempt / "rows.parquet")["_row"]) == [10, 20]
    assert json.loads((attempt / "report.json").read_text())["quarantined"] == 2


def test_ids_already_landed_in_another_batch_are_refused(tmp_path: Path) -> None:
    raw, q = tmp_path / "raw", tmp_path / "q"
    _land(raw, q, 1)
    again = generate_batch(1, 300).assign(batch_id="resent")
    with pytest.raises(ContractViolation, match="id seen before"):
        ingest.run("resent", [again], ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q))
    assert not (raw / "resent.parquet").exists()


def test_source_with_another_batch_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds batch id 'batch-0001'"):
        ingest.run(
            "other",
            [generate_batch(1, 300)],
            ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q"),
        )


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "", "x" * 65])
def test_batch_ids_cannot_escape_or_hide(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="batch id"):
        ingest.run(
            bad,
            [generate_batch(1, 200)],
            ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q"),
        )
    assert not (tmp_path / "raw").exists() and not (tmp_path / "escape.parquet").exists()


def test_split_is_stable_as_data_grows() -> None:
    small = pd.concat([generate_batch(b, 500) for b in (1, 2)])
    large = pd.concat([generate_batch(b, 500) for b in (1, 2, 3)])
    h_small = set(small.loc[version.in_holdout(small["order_id"], 0.2), "order_id"])
    h_large = set(large.loc[version.in_holdout(large["order_id"], 0.2), "order_id"])
    assert h_small == h_large & set(small["order_id"])
    assert 0.15 < len(h_large) / len(large) < 0.25


def _validated(folder: Path, *batches: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for b in batches:
        generate_batch(b, 400).to_parquet(folder / f"batch-{b:04d}.parquet")
    return folder


def test_version_outputs_are_deterministic_and_per_batch(tmp_path: Path) -> None:
    validated = _validated(tmp_path / "v", 1, 2)
    m1 = version.run(validated, tmp_path / "a", ORDERS, holdout_share=0.2, chunk_rows=100)
    m2 = version.run(validated, tmp_path / "b", ORDERS, holdout_share=0.2, chunk_rows=1000)
    assert m1 == m2 and sorted(m1.batches) == ["batch-0001", "batch-0002"]
    assert m1.train_rows + m1.holdout_rows == m1.rows == 800
    files = sorted(str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == [
        "holdout/batch-0001.parquet",
        "holdout/batch-0002.parquet",
        "manifest.json",
        "train/batch-0001.parquet",
        "train/batch-0002.parquet",
    ]
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    for f in files[:2] + files[3:]:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / f), pd.read_parquet(tmp_path / "b" / f))


def test_a_new_batch_leaves_earlier_batch_files_byte_identical(tmp_path: Path) -> None:
    """What lets DVC store each batch once across data versions."""
    validated = _validated(tmp_path / "v", 1)
    version.run(validated, tmp_path / "d", ORDERS, holdout_share=0.2, chunk_rows=1000)
    before = (tmp_path / "d" / "train" / "batch-0001.parquet").read_bytes()
    _validated(validated, 2)
    version.run(validated, tmp_path / "d", ORDERS, holdout_share=0.2, chunk_rows=1000)
    assert (tmp_path / "d" / "train" / "batch-0001.parquet").read_bytes() == before
    assert (tmp_path / "d" / "train" / "batch-0002.parquet").exists()


def test_data_version_without_lock_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        version.data_version(tmp_path)

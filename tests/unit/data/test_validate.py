from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.data import validate
from pipelines.data.generator import generate_batch


def test_report_names_every_failing_column_with_examples() -> None:
    frame = generate_batch(1, 200)
    frame.loc[3, "usual_size"] = "XXXL"
    frame.loc[5, "price"] = -4.0
    frame.loc[7, "channel"] = None
    report = validate.check_frame(frame, "bad.parquet")
    assert not report.ok
    assert report.failing_columns == ["channel", "price", "usual_size"]
    by_col = {p["column"]: p for p in report.problems}
    assert "XXXL" in by_col["usual_size"]["examples"]
    assert by_col["usual_size"]["rows"] == [3]
    assert "usual_size" in report.summary() and "bad.parquet" in report.summary()


def test_unknown_and_missing_columns_fail() -> None:
    frame = generate_batch(1, 50).drop(columns=["brand"]).assign(colour="red")
    cols = validate.check_frame(frame, "x").failing_columns
    assert "brand" in cols and "colour" in cols


def test_duplicate_order_ids_fail() -> None:
    frame = generate_batch(1, 50)
    frame.loc[1, "order_id"] = frame.loc[0, "order_id"]
    assert "order_id" in validate.check_frame(frame, "x").failing_columns


def test_too_few_rows_fail() -> None:
    report = validate.check_frame(generate_batch(1, 5), "x", min_rows=10)
    assert report.failing_columns == ["<batch>"]


def test_read_table_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        validate.read_table(tmp_path / "nope.csv")
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(ValueError, match=r"unsupported file type '\.json'"):
        validate.read_table(tmp_path / "a.json")
    (tmp_path / "b.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="cannot read"):
        validate.read_table(tmp_path / "b.parquet")


def test_failed_run_keeps_previous_output(tmp_path: Path) -> None:
    raw, out, rep = tmp_path / "raw", tmp_path / "validated" / "orders.parquet", tmp_path / "report.json"
    raw.mkdir()
    generate_batch(1, 300).to_parquet(raw / "batch-0001.parquet")
    validate.run(raw, out, rep, min_rows=10)
    before = out.read_bytes()
    bad = generate_batch(2, 300)
    bad.loc[0, "discount"] = 3.0
    bad.to_parquet(raw / "batch-0002.parquet")
    with pytest.raises(validate.ContractViolation, match="discount"):
        validate.run(raw, out, rep, min_rows=10)
    assert out.read_bytes() == before
    assert "discount" in rep.read_text()


def test_order_ids_must_be_unique_across_batches(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    generate_batch(1, 300).to_parquet(raw / "a.parquet")
    generate_batch(1, 300).to_parquet(raw / "b.parquet")  # same orders again under another name
    with pytest.raises(validate.ContractViolation, match="order_id"):
        validate.run(raw, tmp_path / "o.parquet", tmp_path / "r.json", min_rows=10)

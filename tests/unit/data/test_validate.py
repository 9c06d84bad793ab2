from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data import validate
from pipelines.data.generator import generate_batch
from tests.helpers import ORDERS


def test_report_names_every_failing_column_with_examples_and_rows() -> None:
    frame = generate_batch(1, 200)
    frame.loc[3, "usual_size"] = "XXXL"
    frame.loc[5, "price"] = -4.0
    frame.loc[7, "channel"] = None
    report = validate.check_frame(frame, ORDERS, "bad.parquet")
    assert not report.ok
    assert set(report.failing_columns) == {"channel", "price", "usual_size", "<batch>"}
    by_col = {p["column"]: p for p in report.problems}
    assert by_col["usual_size"]["examples"] == ["XXXL"] and by_col["usual_size"]["rows"] == [3]
    assert by_col["price"]["rows"] == [5] and by_col["channel"]["rows"] == [7]
    assert "usual_size" in report.summary() and "bad.parquet" in report.summary()


def test_unknown_and_missing_columns_fail_the_batch() -> None:
    frame = generate_batch(1, 150).drop(columns=["brand"]).assign(colour="red")
    report = validate.check_frame(frame, ORDERS, "x", max_invalid_share=0.9)
    assert {"brand", "colour"} <= set(report.failing_columns)
    assert "missing column" in report.summary() and "column not in contract" in report.summary()


def test_text_in_a_numeric_column_is_caught_row_by_row() -> None:
    frame = generate_batch(1, 300).astype({"customer_height_cm": object})
    frame.loc[4, "customer_height_cm"] = "tall"
    frame.loc[9, "customer_height_cm"] = 999.0  # the range check still runs on the rows that do convert
    screen = validate.Screen(ORDERS, "x")
    good, bad = screen.screen(frame)
    assert sorted(bad.index) == [4, 9] and len(good) == 298
    assert good["customer_height_cm"].dtype == "float64"
    assert set(bad["_reason"].str.split(":").str[0]) == {"customer_height_cm"}


def test_duplicate_ids_keep_the_first_and_flag_the_rest() -> None:
    frame = generate_batch(1, 300)
    frame.loc[1, "order_id"] = frame.loc[0, "order_id"]
    good, bad = validate.Screen(ORDERS, "x").screen(frame)
    assert list(bad.index) == [1] and 0 in good.index
    assert "order_id" in validate.check_frame(frame, ORDERS, "x").failing_columns


def test_ids_seen_in_an_earlier_chunk_or_batch_are_duplicates() -> None:
    screen = validate.Screen(ORDERS, "x", seen_ids={"0001-00000002"})
    frame = generate_batch(1, 300)
    _, bad = screen.screen(frame)
    assert list(bad.index) == [2]
    _, again = screen.screen(frame)  # the same rows in a later chunk
    assert len(again) == 300


def test_batch_rules_row_count_and_null_share() -> None:
    few = validate.check_frame(generate_batch(1, 50), ORDERS, "x")
    assert few.failing_columns == ["<batch>"] and "batch.min_rows" in few.summary()
    frame = generate_batch(1, 400)
    frame.loc[:99, "customer_weight_kg"] = None  # 25% missing; the contract allows 15%
    report = validate.check_frame(frame, ORDERS, "x")
    assert report.failing_columns == ["customer_weight_kg"] and "null share" in report.summary()


def test_all_null_column_fails_whether_or_not_nulls_are_allowed() -> None:
    nullable = generate_batch(1, 300).assign(customer_weight_kg=None)
    assert "customer_weight_kg" in validate.check_frame(nullable, ORDERS, "x").failing_columns
    required = generate_batch(1, 300).assign(channel=None)
    report = validate.check_frame(required, ORDERS, "x", max_invalid_share=0.5)
    assert "channel" in report.failing_columns and not report.ok


def test_tolerance_quarantines_few_bad_rows_but_not_many() -> None:
    frame = generate_batch(1, 1000)
    frame.loc[[1, 2, 3], "discount"] = 3.0
    within = validate.check_frame(frame, ORDERS, "x", max_invalid_share=0.01)
    assert within.ok and within.quarantined == 3
    beyond = validate.check_frame(frame, ORDERS, "x", max_invalid_share=0.002)
    assert not beyond.ok and "validate.max_invalid_share" in beyond.summary()


def _landed(raw: Path, *batches: int) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for b in batches:
        generate_batch(b, 300).to_parquet(raw / f"batch-{b:04d}.parquet")


def test_run_writes_one_validated_file_per_batch(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "validated"
    _landed(raw, 1, 2)
    report = validate.run(raw, out, tmp_path / "report.json", ORDERS, chunk_rows=128)
    assert report.ok and report.rows == 600
    assert sorted(p.name for p in out.iterdir()) == ["batch-0001.parquet", "batch-0002.parquet"]
    back = pd.read_parquet(out / "batch-0001.parquet")
    pd.testing.assert_frame_equal(back, generate_batch(1, 300), check_dtype=False)


def test_failed_run_keeps_previous_output(tmp_path: Path) -> None:
    raw, out, rep = tmp_path / "raw", tmp_path / "validated", tmp_path / "report.json"
    _landed(raw, 1)
    validate.run(raw, out, rep, ORDERS, chunk_rows=1000)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = generate_batch(2, 300)
    bad.loc[0, "discount"] = 3.0
    bad.to_parquet(raw / "batch-0002.parquet")
    with pytest.raises(validate.ContractViolation, match="discount"):
        validate.run(raw, out, rep, ORDERS, chunk_rows=1000)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert "batch-0002" in rep.read_text() and "discount" in rep.read_text()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging folder left behind


def test_ids_must_be_unique_across_batches(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    generate_batch(1, 300).to_parquet(raw / "a.parquet")
    generate_batch(1, 300).to_parquet(raw / "b.parquet")  # the same orders again under another name
    with pytest.raises(validate.ContractViolation, match="order_id"):
        validate.run(raw, tmp_path / "v", tmp_path / "r.json", ORDERS, chunk_rows=1000)


def test_no_batches_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(validate.ContractViolation, match="at least one landed batch"):
        validate.run(tmp_path / "raw", tmp_path / "v", tmp_path / "r.json", ORDERS, chunk_rows=1000)

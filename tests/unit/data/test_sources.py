"""Every kind of bad input named in the data engineer's brief gets a clear error and changes no stored data."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data import ingest, sources
from pipelines.data.generator import generate_batch
from pipelines.data.validate import ContractViolation
from tests.helpers import ORDERS


def _orders(rows: int = 300, batch: int = 7) -> pd.DataFrame:
    return generate_batch(batch, rows).drop(columns=["batch_id"])  # as a shop's export would look


def _csv(frame: pd.DataFrame, path: Path, **kw: object) -> Path:
    frame.to_csv(path, index=False, **kw)  # type: ignore[call-overload]
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing column": (lambda d: _csv(_orders().drop(columns=["brand"]), d / "x.csv"), r"brand.*missing column"),
    "extra column": (lambda d: _csv(_orders().assign(colour="red"), d / "x.csv"), r"colour.*not in contract"),
    "wrong type": (
        lambda d: _csv(_orders().assign(customer_height_cm="tall"), d / "x.csv"),
        r"customer_height_cm: coerce_dtype",
    ),
    "unknown category": (lambda d: _csv(_orders().assign(channel="fax"), d / "x.csv"), r"channel: isin"),
    "out of range": (lambda d: _csv(_orders().assign(discount=2.5), d / "x.csv"), r"discount: less_than"),
    "all-null column": (lambda d: _csv(_orders().assign(customer_weight_kg=None), d / "x.csv"), r"null share"),
    "duplicate ids": (
        lambda d: _csv(pd.concat([_orders(), _orders().head(5)]), d / "x.csv"),
        r"order_id: field_uniqueness",
    ),
    "empty file": (lambda d: _write(d / "x.csv", b""), r"is empty"),
    "header only": (lambda d: _csv(_orders().head(0), d / "x.csv"), r"at least 100 valid rows"),
    "truncated parquet": (
        lambda d: _write(d / "x.parquet", _parquet_bytes()[:-200]),
        r"cannot read .* as Parquet",
    ),
    "not parquet at all": (lambda d: _write(d / "x.parquet", b"a,b\n1,2\n"), r"as Parquet"),
    "semicolon delimiter": (lambda d: _csv(_orders(), d / "x.csv", sep=";"), r"looks ';'-delimited"),
    "latin-1 encoding": (
        lambda d: _csv(_orders().assign(brand="café"), d / "x.csv", encoding="latin-1"),
        r"not valid utf-8 text.*ingest.encoding",
    ),
    "unknown suffix": (lambda d: _write(d / "x.json", b"{}"), r"cannot tell the format"),
}


def _parquet_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    _orders().to_parquet(buf)
    return buf.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, bytes]]]:
    """A raw folder with one batch already landed, and a snapshot of it to compare against."""
    raw, q = tmp_path / "raw", tmp_path / "q"
    ingest.run(
        "batch-0001",
        ingest.generator_chunks(1, 300, 42),
        ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q),
    )
    yield raw, q, {p.name: p.read_bytes() for p in raw.iterdir()}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_file_gets_a_clear_error_and_stores_nothing(
    case: str, tmp_path: Path, store: tuple[Path, Path, dict[str, bytes]]
) -> None:
    raw, q, before = store
    make, message = BAD_INPUTS[case]
    (tmp_path / "in").mkdir()
    path = make(tmp_path / "in")
    with pytest.raises((ContractViolation, sources.SourceError)) as info:
        ingest.from_file(path, ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=q), batch="incoming")
    assert re.search(message, str(info.value), re.S), str(info.value)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before


def test_csv_with_its_own_delimiter_and_encoding_lands_when_configured(tmp_path: Path) -> None:
    frame = _orders()
    path = _csv(frame, tmp_path / "week7.csv", sep=";", encoding="latin-1")
    options = sources.ReadOptions(delimiter=";", encoding="latin-1", chunk_rows=64)
    result = ingest.from_file(
        path, ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q", options=options)
    )
    assert (result.batch_id, result.rows) == ("week7", 300)
    landed = pd.read_parquet(tmp_path / "raw" / "week7.parquet")
    assert set(landed["batch_id"]) == {"week7"} and landed["order_id"].tolist() == frame["order_id"].tolist()


def test_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = _csv(_orders(), tmp_path / "bom.csv", encoding="utf-8-sig")
    assert (
        ingest.from_file(
            path, ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q")
        ).rows
        == 300
    )


def test_folder_lands_each_file_and_reports_the_bad_one(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _csv(generate_batch(1, 300).drop(columns=["batch_id"]), inbox / "2026-w01.csv")
    generate_batch(2, 300).drop(columns=["batch_id"]).to_parquet(inbox / "2026-w02.parquet")
    _csv(_orders().assign(channel="fax"), inbox / "2026-w03.csv")
    (inbox / "notes.txt").write_text("ignored")
    (inbox / ".partial.csv").write_text("ignored")
    outcomes = ingest.from_folder(
        inbox, ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q")
    )
    assert [p.name for p, _ in outcomes] == ["2026-w01.csv", "2026-w02.parquet", "2026-w03.csv"]
    assert [type(o).__name__ for _, o in outcomes] == ["IngestResult", "IngestResult", "ContractViolation"]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["2026-w01.parquet", "2026-w02.parquet"]
    again = ingest.from_folder(
        inbox, ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q")
    )
    assert [getattr(o, "status", None) for _, o in again][:2] == ["unchanged", "unchanged"]


def test_empty_or_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(sources.SourceError, match="no such folder"):
        sources.list_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(sources.SourceError, match=r"holds no \.csv or \.parquet"):
        sources.list_folder(tmp_path / "empty")

"""Where ingest reads batches from (owner: data engineer): CSV/Parquet files and folders of them (HTTP(S) URLs:
`pipelines.data.download`).

Every reader yields chunks of at most `chunk_rows` rows, numbered from 0 across the file, so files of any
size land in bounded memory. Anything that cannot be read (wrong delimiter or encoding, a truncated Parquet
file, an empty file) raises `SourceError` naming the file and the setting that fixes it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

Format = Literal["auto", "csv", "parquet"]
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_DELIMITERS = (";", "\t", "|", ",")


class SourceError(ValueError):
    """A source cannot be read; the message says which one and what to change."""


@dataclass(frozen=True)
class ReadOptions:
    format: Format = "auto"
    delimiter: str = ","
    encoding: str = "utf-8"
    chunk_rows: int = 200_000


def file_format(path: Path, fmt: Format) -> Literal["csv", "parquet"]:
    if fmt != "auto":
        return fmt
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise SourceError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
            "name it .csv or .parquet, or set ingest.format"
        )
    return found  # type: ignore[return-value]


# plug-in: source-format
def iter_file(path: Path, options: ReadOptions | None = None) -> Iterator[pd.DataFrame]:
    """Chunks of a CSV or Parquet file. Errors surface on the first chunk, before anything is written."""
    options = options or ReadOptions()
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    fmt = file_format(path, options.format)
    if path.stat().st_size == 0:
        raise SourceError(f"{path} is empty (0 bytes)")
    chunks = _iter_parquet(path, options) if fmt == "parquet" else _iter_csv(path, options)
    first = 0
    for chunk in chunks:
        chunk.index = pd.RangeIndex(first, first + len(chunk))
        first += len(chunk)
        yield chunk


def _iter_parquet(path: Path, options: ReadOptions) -> Iterator[pd.DataFrame]:
    try:
        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows == 0:
            yield parquet.schema_arrow.empty_table().to_pandas()
            return
        for batch in parquet.iter_batches(batch_size=options.chunk_rows):
            yield batch.to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"cannot read {path} as Parquet (truncated or not a Parquet file?): {exc}") from None


def _iter_csv(path: Path, options: ReadOptions) -> Iterator[pd.DataFrame]:
    # utf-8-sig reads plain UTF-8 too and drops the byte-order mark spreadsheet exports put in front of the header.
    encoding = "utf-8-sig" if options.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else options.encoding
    try:
        # Everything as text: the contract coerces types, and row-level failures are reported row by row
        # instead of pandas guessing a different type per chunk.
        reader = pd.read_csv(
            path, sep=options.delimiter, encoding=encoding, dtype=str, chunksize=options.chunk_rows, engine="c"
        )
        header_checked = False
        with reader:
            for chunk in reader:
                if not header_checked:
                    _check_header(path, list(chunk.columns), options.delimiter)
                    header_checked = True
                yield chunk
        if not header_checked:  # a header and no rows: hand over the columns so the contract can judge them
            header = pd.read_csv(path, sep=options.delimiter, encoding=encoding, dtype=str, nrows=0)
            _check_header(path, list(header.columns), options.delimiter)
            yield header
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path} is not valid {options.encoding} text ({exc.reason} at byte {exc.start}); "
            "set ingest.encoding to the file's encoding, e.g. latin-1 or cp1252"
        ) from None
    except LookupError as exc:
        raise SourceError(f"unknown encoding {options.encoding!r} (ingest.encoding): {exc}") from None
    except pd.errors.EmptyDataError:
        raise SourceError(f"{path} has no header row and no data") from None
    except (pd.errors.ParserError, csv.Error) as exc:
        raise SourceError(f"cannot parse {path} as CSV with delimiter {options.delimiter!r}: {exc}") from None


def _check_header(path: Path, columns: list[str], delimiter: str) -> None:
    if len(columns) == 1:
        for other in _DELIMITERS:
            if other != delimiter and other in columns[0]:
                raise SourceError(
                    f"{path}: the header reads as one column {columns[0][:60]!r}; the file looks "
                    f"{other!r}-delimited, not {delimiter!r}: set ingest.delimiter (or --delimiter)"
                )


def list_folder(folder: Path, fmt: Format = "auto") -> list[Path]:
    """The data files in a landing folder, in name order (hidden and unrelated files are ignored)."""
    if not folder.is_dir():
        raise SourceError(f"no such folder: {folder}")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and (p.suffix.lower() in SUFFIXES if fmt == "auto" else p.suffix.lower() in (f".{fmt}", ".pq"))
    )
    if not files:
        raise SourceError(f"{folder} holds no .csv or .parquet files to ingest")
    return files

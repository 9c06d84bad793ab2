"""Delayed labels (read by the MLOps engineer's monitor and retrain stages; the batches are the data engineer's).

Predictions are logged when an order is placed; whether the item came back is known weeks later, when the
data engineer lands that week as a labelled batch in `data/raw/`. The batches the champion has not been
trained on are the new labels: the monitor scores them with the champion to judge its quality, and the
retrain stage counts them before it asks for a new model. Which batches the champion knew comes from the
data-version catalog (`data/versions.jsonl`), found through the data version tagged on its MLflow run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from pipelines.core.contract import Contract


@dataclass(frozen=True)
class NewLabels:
    batches: list[str]  # landed batches the champion was not trained on, in name order
    rows: int
    known_from: str  # how the champion's batches were found, for the decision and the log

    def describe(self) -> str:
        if not self.batches:
            return f"no labelled batches since the champion's data ({self.known_from})"
        return f"{self.rows} labelled rows in {', '.join(self.batches)} ({self.known_from})"


def champion_batches(catalog_path: Path, data_version: str, dataset_dir: Path) -> tuple[set[str], str]:
    """The batches in the champion's data version, and where that answer came from.

    The catalog knows every version a training flow built. When it lacks this one (the catalog file was not
    shared with this machine), the dataset now in the workspace is the best guess, and the answer says so.
    """
    known = batches_of(catalog_path, data_version)
    if known is not None:
        return known, f"data version {data_version[:10]}"
    from pipelines.core.dataset import read_manifest

    try:
        batches = set(read_manifest(dataset_dir).batches)
    except FileNotFoundError:
        batches = set()
    return batches, f"data version {data_version[:10]} is not in {catalog_path.name}; compared with data/dataset"


def batches_of(catalog_path: Path, data_version: str) -> set[str] | None:
    """The batches in a data version, or None when the catalog does not know it."""
    for entry in _catalog(catalog_path):
        if entry.get("version") == data_version:
            return set(entry.get("batches", []))
    return None


def landed_batches(raw_dir: Path) -> set[str]:
    return {p.stem for p in raw_dir.glob("*.parquet")} if raw_dir.is_dir() else set()


def _catalog(path: Path) -> list[dict[str, Any]]:
    """The data engineer's version catalog, read as the file it is handed over as (one JSON object a line)."""
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                entries.append(dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError):
                raise ValueError(f"{path}:{number} is not a data version entry; fix or remove that line") from None
    return entries


def new_labels(raw_dir: Path, known: set[str], known_from: str) -> NewLabels:
    """Landed batches outside `known`, counted from their Parquet footers (no data is read)."""
    found = sorted(p for p in raw_dir.glob("*.parquet") if p.stem not in known) if raw_dir.is_dir() else []
    rows = 0
    for path in found:
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ValueError(f"landed batch {path} cannot be read as Parquet ({exc}); re-ingest it") from None
    return NewLabels([p.stem for p in found], rows, known_from)


def read_labelled(raw_dir: Path, labels: NewLabels, contract: Contract, max_rows: int | None) -> pd.DataFrame:
    """The features and label of the new batches; the newest `max_rows` rows when there are more."""
    columns = [*contract.feature_columns(), contract.target]
    frames = [pd.read_parquet(raw_dir / f"{b}.parquet", columns=columns) for b in labels.batches]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True)
    return frame.tail(max_rows).reset_index(drop=True) if max_rows and len(frame) > max_rows else frame

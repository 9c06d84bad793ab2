"""The versioned dataset's layout (data engineer → data scientist): what `version` writes and training reads.

`data/dataset/` holds `train/<batch>.parquet`, `holdout/<batch>.parquet` and `manifest.json`. One file per
batch means a new batch adds files and leaves the others byte-identical, so DVC stores each batch once
across all data versions instead of a full copy of the table per version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

Split = Literal["train", "holdout"]
SPLITS: tuple[Split, ...] = ("train", "holdout")
MANIFEST = "manifest.json"


def split_files(dataset_dir: Path, split: Split) -> list[Path]:
    folder = dataset_dir / split
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no {split} data in {folder}: run the data stages first (`relay pipeline` or `dvc repro version`)"
        )
    return files


def read_split(dataset_dir: Path, split: Split, columns: list[str] | None = None) -> pd.DataFrame:
    """One split as a frame, batches in name order (so the row order, and training, is reproducible)."""
    frames = [pd.read_parquet(path, columns=columns) for path in split_files(dataset_dir, split)]
    return pd.concat(frames, ignore_index=True)


class Manifest(BaseModel):
    """What a dataset holds, written by `version` beside the splits. No timestamps: the file must be
    byte-identical for identical data, or DVC re-runs everything after it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    contract: str
    rows: int
    train_rows: int
    holdout_rows: int
    holdout_share: float
    batches: dict[str, dict[Split, int]]  # rows per split of each batch
    positive_rate: float  # the target's mean: a binary target's share of positives


def read_manifest(dataset_dir: Path) -> Manifest:
    path = dataset_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the data stages first (`relay pipeline`)")
    return Manifest.model_validate_json(path.read_text())

"""The versioned dataset's layout (data engineer → data scientist): what `version` writes and training reads.

`data/dataset/` holds `train/<batch>.parquet`, `holdout/<batch>.parquet` and `manifest.json`. One file per
batch means a new batch adds files and leaves the others byte-identical, so DVC stores each batch once
across all data versions instead of a full copy of the table per version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd

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


def read_manifest(dataset_dir: Path) -> dict[str, Any]:
    path = dataset_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the data stages first (`relay pipeline`)")
    return dict(json.loads(path.read_text()))

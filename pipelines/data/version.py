"""Version (owner: data engineer): turn validated orders into the versioned train/holdout dataset.

Takes `data/validated/orders.parquet`; hands over `data/dataset/{train,holdout,manifest}` whose DVC md5
(in `dvc.lock`) is the data version that every MLflow run is stamped with, pushed to the DVC remote.
The split hashes the order id, so an order stays on the same side of the split in every later version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipelines.atomic import write_json, write_parquet
from pipelines.ownership import stage

DATASET_OUT = "data/dataset"


def in_holdout(order_ids: pd.Series, share: float) -> pd.Series:
    buckets = order_ids.map(lambda s: int(hashlib.blake2b(s.encode(), digest_size=4).hexdigest(), 16) % 10_000)
    return buckets < int(share * 10_000)


@stage("version")
def run(validated: Path, out_dir: Path, *, holdout_share: float) -> dict[str, Any]:
    """Split validated orders into train and holdout and describe the result in a manifest."""
    frame = pd.read_parquet(validated)
    holdout = in_holdout(frame["order_id"], holdout_share)
    train, test = frame[~holdout], frame[holdout]
    if train.empty or test.empty:
        raise ValueError(f"split left an empty side (train={len(train)}, holdout={len(test)}); need more rows")
    write_parquet(train.reset_index(drop=True), out_dir / "train.parquet")
    write_parquet(test.reset_index(drop=True), out_dir / "holdout.parquet")
    # No timestamps here: the manifest must be byte-identical for identical data, or DVC re-runs everything.
    manifest = {
        "rows": len(frame),
        "train_rows": len(train),
        "holdout_rows": len(test),
        "batches": sorted(frame["batch_id"].unique().tolist()),
        "positive_rate": round(float(frame["returned"].mean()), 6),
    }
    write_json(manifest, out_dir / "manifest.json")
    return manifest


def data_version(root: Path) -> str:
    """The data version: DVC's md5 of the dataset folder, read from `dvc.lock`."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        raise FileNotFoundError(f"{lock} not found: run `dvc repro` (or `relay pipeline`) first")
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for out in stages.get("version", {}).get("outs", []):
        if out.get("path") == DATASET_OUT:
            return str(out["md5"]).removesuffix(".dir")
    raise KeyError(f"{lock} has no output {DATASET_OUT!r} for stage 'version'")


def stage_out_md5(root: Path, stage_name: str, path: str) -> str:
    stages = (yaml.safe_load((root / "dvc.lock").read_text()) or {}).get("stages", {})
    for out in stages.get(stage_name, {}).get("outs", []):
        if out.get("path") == path:
            return str(out["md5"]).removesuffix(".dir")
    raise KeyError(f"dvc.lock has no output {path!r} for stage {stage_name!r}")


def manifest(dataset_dir: Path) -> dict[str, Any]:
    import json

    return dict(json.loads((dataset_dir / "manifest.json").read_text()))


def push(root: Path) -> int:
    """Push DVC-tracked data and models to the default remote; returns the number of files pushed."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return int(repo.push())

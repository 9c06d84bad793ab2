"""Version (owner: data engineer): turn validated batches into the versioned train/holdout dataset.

Takes `data/validated/<batch>.parquet`; hands over `data/dataset/` (layout in `pipelines.core.dataset`) whose DVC md5,
recorded in `dvc.lock`, is the data version that every MLflow run is stamped with. The split hashes the id
column (or, without one, the record's values), so a record stays on the same side in every later version and
a holdout never leaks into training.
`catalog` lists and restores versions; `push` sends them to the DVC remote.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from pipelines.core.atomic import replace_dir, write_json
from pipelines.core.contract import Contract
from pipelines.core.contract_checks import to_arrow
from pipelines.core.dataset import MANIFEST, SPLITS, Manifest
from pipelines.core.ownership import stage
from pipelines.data import sources


def split_keys(chunk: pd.DataFrame, contract: Contract) -> pd.Series:
    """What the split hashes per record: its id, or else its values but the batch id joined as text (so the
    same record delivered again lands on the same side)."""
    if contract.id_column is not None:
        return chunk[contract.id_column].astype(str)
    return chunk[[n for n in contract.columns if n != contract.batch_column]].map(str).agg("\x1f".join, axis=1)


def in_holdout(ids: pd.Series, share: float) -> np.ndarray:
    """True for ids in the holdout: a stable hash of the id, independent of row order, batch and library versions."""
    cut = int(share * 10_000)
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(i.encode(), digest_size=4).digest(), "big") % 10_000 < cut for i in ids),
        dtype=bool,
        count=len(ids),
    )


@stage("version")
def run(validated_dir: Path, out_dir: Path, contract: Contract, *, holdout_share: float, chunk_rows: int) -> Manifest:
    """Split every validated batch into train and holdout files and describe the result in a manifest."""
    files = sorted(validated_dir.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no validated batches in {validated_dir}: run the validate stage first")
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    counts: dict[str, int] = dict.fromkeys(SPLITS, 0)
    positives = 0
    batches: dict[str, dict[str, int]] = {}
    try:
        for split in SPLITS:
            (staging / split).mkdir(parents=True)
        for path in files:
            per: dict[str, int] = dict.fromkeys(SPLITS, 0)
            writers = {s: pq.ParquetWriter(staging / s / path.name, contract.arrow_schema()) for s in SPLITS}
            try:
                options = sources.ReadOptions(format="parquet", chunk_rows=chunk_rows)
                for chunk in sources.iter_file(path, options):
                    holdout = in_holdout(split_keys(chunk, contract), holdout_share)
                    for split, part in (("train", chunk[~holdout]), ("holdout", chunk[holdout])):
                        writers[split].write_table(to_arrow(part, contract))
                        per[split] += len(part)
                    positives += int(chunk[contract.target].sum())
            finally:
                for w in writers.values():
                    w.close()
            batches[path.stem] = per
            for split in SPLITS:
                counts[split] += per[split]
        if not counts["train"] or not counts["holdout"]:
            raise ValueError(
                f"the split left an empty side (train={counts['train']}, holdout={counts['holdout']}); need more rows"
            )
        rows = counts["train"] + counts["holdout"]
        manifest = Manifest(
            contract=contract.name,
            rows=rows,
            train_rows=counts["train"],
            holdout_rows=counts["holdout"],
            holdout_share=holdout_share,
            batches=batches,
            positive_rate=round(positives / rows, 6),
        )
        write_json(manifest.model_dump(), staging / MANIFEST)
        replace_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def stage_out_md5(root: Path, stage_name: str, path: str) -> str:
    """The md5 DVC recorded in `dvc.lock` for one output of one stage."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        raise FileNotFoundError(f"{lock} not found: run `dvc repro` (or `relay pipeline`) first")
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for out in stages.get(stage_name, {}).get("outs", []):
        if out.get("path") == path:
            return str(out["md5"]).removesuffix(".dir")
    raise KeyError(f"{lock} has no output {path!r} for stage {stage_name!r}")


def data_version(root: Path, dataset_out: str = "data/dataset") -> str:
    """The data version: DVC's md5 of the dataset folder, read from `dvc.lock`."""
    return stage_out_md5(root, "version", dataset_out)


def remote_config(remote_url: str) -> dict[str, Any] | None:
    """DVC configuration that makes `remote_url` the default remote for one run, leaving `.dvc/config` alone.

    Credentials and endpoints come from the tool's own settings, e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
    and, for MinIO or another S3-compatible store, AWS_ENDPOINT_URL_S3.
    """
    if not remote_url:
        return None
    return {"core": {"remote": "relay"}, "remote": {"relay": {"url": remote_url}}}


def push(root: Path, remote_url: str = "") -> int:
    """Push DVC-tracked data and models to the default remote (or `remote_url`); returns the files pushed."""
    from dvc.repo import Repo

    with Repo(str(root), config=remote_config(remote_url)) as repo:
        return int(repo.push())

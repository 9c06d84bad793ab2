"""Small helpers shared by tests: the shipped data contract and a way to lay out a dataset folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.contract import load as load_contract

REPO = Path(__file__).resolve().parents[1]
ORDERS = load_contract(REPO / "contract.yaml")


def write_dataset(folder: Path, train: pd.DataFrame, holdout: pd.DataFrame) -> Path:
    """Lay out `folder` as the version stage does (one file per split here), for stage tests."""
    for split, frame in (("train", train), ("holdout", holdout)):
        (folder / split).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / split / "batch-0001.parquet", index=False)
    return folder

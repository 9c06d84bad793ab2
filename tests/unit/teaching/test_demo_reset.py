"""The demo starts its story from week 1, clearing only what it made."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_demo_refuses_to_clear_foreign_batches(tmp_path: Path) -> None:
    from pipelines.core.settings import Settings
    from pipelines.flows.demo import reset_demo_state

    s = Settings(root=tmp_path)
    s.raw_dir.mkdir(parents=True)
    (s.raw_dir / "batch-0001.parquet").write_bytes(b"x")
    (s.raw_dir / "my-orders.parquet").write_bytes(b"x")
    with pytest.raises(FileExistsError, match=r"my-orders\.parquet"):
        reset_demo_state(s)
    assert (s.raw_dir / "my-orders.parquet").exists()

"""What `dvc.yaml` says each stage writes is what the stages write: the folders come from settings and the
file names from `pipelines.core.artifacts`, so renaming one side without the other fails here, not in a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.core import artifacts
from pipelines.core.settings import Settings
from tests.conftest import REPO

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
S = Settings(root=REPO)


def _paths(stage: str, kind: str) -> set[str]:
    """The paths a stage lists under `outs`, `metrics` or `plots` (entries are names or one-key mappings)."""
    entries: list[Any] = DVC[stage].get(kind, [])
    return {e if isinstance(e, str) else next(iter(e)) for e in entries}


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_data_stages_write_the_folders_settings_name() -> None:
    assert _paths("validate", "outs") == {_rel(S.validated_dir)}
    assert _paths("validate", "metrics") == {_rel(S.metrics_dir / artifacts.VALIDATION_METRICS)}
    assert _paths("version", "outs") == {_rel(S.dataset_dir)}
    assert _rel(S.raw_dir) in DVC["validate"]["deps"] and _rel(S.validated_dir) in DVC["version"]["deps"]


def test_train_writes_the_model_folder_evaluate_and_track_read() -> None:
    assert _paths("train", "outs") == {_rel(S.model_dir)}
    assert _rel(S.dataset_dir) in DVC["train"]["deps"]
    assert {_rel(S.model_dir), _rel(S.dataset_dir)} <= set(DVC["evaluate"]["deps"])


def test_evaluate_declares_every_file_it_hands_over() -> None:
    assert _paths("evaluate", "metrics") == {_rel(S.metrics_dir / artifacts.HOLDOUT_METRICS)}
    assert _paths("evaluate", "outs") == {_rel(S.metrics_dir / artifacts.SEGMENT_METRICS), _rel(S.plots_dir)}
    # Every task's curves and pictures are drawn by the top-level plots, and nothing else is.
    curves = {_rel(S.plots_dir / artifacts.curve_file(n)) for names in artifacts.CURVES.values() for n in names}
    # part:pictures:begin
    pictures = {_rel(S.plots_dir / artifacts.picture_file(n)) for names in artifacts.PICTURES.values() for n in names}
    curves |= pictures
    # part:pictures:end
    top = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    assert {e if isinstance(e, str) else next(iter(e)) for e in top} == curves

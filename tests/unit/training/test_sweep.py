from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.params import ParamsError, SweepParams, TrainParams, load_params
from pipelines.training.sweep import apply_to_params, best_of, candidates, changed
from tests.conftest import REPO


def test_candidates_start_with_the_baseline_and_are_reproducible() -> None:
    base = TrainParams()
    space = SweepParams(trials=4, seed=3, space={"learning_rate": [0.04, 0.08, 0.15], "max_leaf_nodes": [15, 31, 63]})
    first, again = candidates(base, space), candidates(base, space)
    assert first == again and first[0] == base
    assert len(first) == 5  # the baseline's own grid point is not drawn again
    assert len({c.model_dump_json() for c in first}) == len(first)
    assert all(isinstance(c.model.max_leaf_nodes, int) for c in first)
    other_seed = candidates(base, space.model_copy(update={"seed": 4}))
    assert other_seed != first


def test_small_grid_is_tried_whole() -> None:
    got = candidates(TrainParams(), SweepParams(trials=50, space={"max_leaf_nodes": [15, 63]}))
    assert [c.model.max_leaf_nodes for c in got] == [31, 15, 63]
    assert changed(TrainParams(), got[1]) == {"max_leaf_nodes": 15}


def test_best_of_ranks_by_metric_direction_and_prefers_the_baseline_on_ties() -> None:
    results = [
        {"index": 0, "metrics": {"roc_auc": 0.70, "brier": 0.20}},
        {"index": 1, "metrics": {"roc_auc": 0.72, "brier": 0.21}},
        {"index": 2, "metrics": {"roc_auc": 0.70, "brier": 0.19}},
    ]
    assert best_of(results, "roc_auc")["index"] == 1
    assert best_of(results, "brier")["index"] == 2
    assert best_of([results[0], {**results[2], "metrics": results[0]["metrics"]}], "roc_auc")["index"] == 0
    with pytest.raises(RuntimeError, match="every sweep trial failed"):
        best_of([], "roc_auc")


def test_apply_keeps_comments_and_refuses_invalid_values(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    apply_to_params(path, {"learning_rate": 0.15, "max_leaf_nodes": 63})
    text = path.read_text()
    assert "# data scientist" in text and "# slice of the train split" in text
    p = load_params(path)
    assert p.train.model.learning_rate == 0.15 and p.train.model.max_leaf_nodes == 63
    before = path.read_text()
    with pytest.raises(ParamsError, match="not applied"):
        apply_to_params(path, {"learning_rate": 5.0})
    assert path.read_text() == before  # a refused change leaves the file as it was


def test_without_a_space_each_kind_sweeps_its_own_grid_and_a_foreign_key_is_named() -> None:
    from pipelines.core.params import DEFAULT_SPACES, LogisticRegression

    base = TrainParams(model=LogisticRegression())
    got = candidates(base, SweepParams(trials=50))
    assert [c.model.C for c in got[1:]] == [v for v in DEFAULT_SPACES["logistic_regression"]["C"] if v != 1.0]
    with pytest.raises(ValueError, match=r"learning_rate is not a hyperparameter of logistic_regression"):
        SweepParams(space={"learning_rate": [0.1]}).check_space(base.model)

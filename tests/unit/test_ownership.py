"""Ownership is data: every place that shows an owner must agree with pipelines/core/ownership.py."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.core import ownership_check
from pipelines.core.ownership import STAGES, Role, get_stage, owner_of, prefect_tags, stage, tags_for
from tests.conftest import REPO


def test_repository_agrees_with_the_registry() -> None:
    assert ownership_check.problems(REPO) == []


def test_every_role_owns_at_least_one_stage() -> None:
    assert {s.owner for s in STAGES} == set(Role)


@pytest.mark.parametrize("spec", STAGES, ids=lambda s: s.name)
def test_each_stage_has_exactly_one_marked_function_in_its_module(spec: object) -> None:
    module = importlib.import_module(spec.module)  # type: ignore[attr-defined]
    marked = [v for v in vars(module).values() if getattr(v, "__relay_stage__", None) is spec]
    assert len(marked) == 1, f"{spec.module} should mark one function with @stage({spec.name!r})"  # type: ignore[attr-defined]


@pytest.mark.parametrize("spec", STAGES, ids=lambda s: s.name)
def test_module_docstring_names_the_owner(spec: object) -> None:
    module = importlib.import_module(spec.module)  # type: ignore[attr-defined]
    assert spec.owner.label.lower() in (module.__doc__ or "").lower()  # type: ignore[attr-defined]


def _copy(tmp_path: Path) -> Path:
    for name in ("roles.md", "dvc.yaml", ".github", "pipelines", "services", "tests", "infra", ".ci", "Makefile"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, tmp_path / name)
    return tmp_path


def test_check_fails_when_dvc_owner_drifts(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    data = yaml.safe_load((root / "dvc.yaml").read_text())
    data["stages"]["train"]["meta"]["owner"] = "ml-engineer"
    (root / "dvc.yaml").write_text(yaml.safe_dump(data))
    assert any("'train'" in p and "meta.owner" in p for p in ownership_check.problems(root))


def test_check_fails_when_roles_md_is_edited_by_hand(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    text = (root / "roles.md").read_text().replace("| train | Data scientist", "| train | ML engineer")
    (root / "roles.md").write_text(text)
    assert any("roles.md" in p for p in ownership_check.problems(root))


def test_check_fails_when_codeowners_drifts(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    owners = root / ".github" / "CODEOWNERS"
    owners.write_text(owners.read_text().replace("/services/ @relay-org/ml-engineers", "/services/ @someone"))
    assert any("CODEOWNERS" in p for p in ownership_check.problems(root))


def test_tags_carry_owner_and_stage() -> None:
    assert tags_for("register") == {"relay.stage": "register", "relay.owner": "ml-engineer"}
    assert prefect_tags("monitor") == ["stage:monitor", "owner:mlops-engineer"]
    assert owner_of("ingest") is Role.DATA_ENGINEER


def test_unknown_stage_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown stage 'deploy'"):
        get_stage("deploy")


def test_stage_mark_refuses_the_wrong_module() -> None:
    with pytest.raises(RuntimeError, match=r"registered in pipelines\.training\.train"):
        stage("train")(lambda: None)


def test_prefect_tasks_carry_their_stage_owner() -> None:
    from prefect import Task

    from pipelines.flows import monitoring, training

    modules = [training, monitoring]
    # part:teaching:begin
    from pipelines.flows import demo

    modules.append(demo)
    # part:teaching:end
    # part:experiments:begin
    from pipelines.flows import sweep

    modules.append(sweep)
    # part:experiments:end
    tasks = [v for m in modules for v in vars(m).values() if isinstance(v, Task)]
    assert "sweep-trial" in {t.name for t in tasks}  # part:experiments
    assert tasks
    for t in tasks:
        if t.name == "dvc-stage":  # tagged per call with the DVC stage it runs (with_options)
            continue
        stages = [tag.split(":", 1)[1] for tag in t.tags if tag.startswith("stage:")]
        assert len(stages) == 1, f"task {t.name} must name one stage"
        assert f"owner:{owner_of(stages[0]).value}" in t.tags

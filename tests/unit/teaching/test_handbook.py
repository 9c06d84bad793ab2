"""The teaching part is data: the tour and each role's day must name commands, files and tests that exist,
the role pages follow the handbook, and `relay tour` must work before and after a demo run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.core import team
from pipelines.core.ownership import STAGES, Role
from pipelines.teaching import pages
from pipelines.teaching.handbook import DAYS, TOUR
from tests.helpers import REPO, check_relay_command

runner = CliRunner()


def _commands() -> list[tuple[str, str]]:
    found = [(c, f"tour of {name}") for name, t in TOUR.items() for c in t.commands]
    for role, day in DAYS.items():
        found += [(c, f"{role.label}'s commands") for c in day.commands]
        found += [(s, f"{role.label}'s exercise {ex.title!r}") for ex in day.exercises for s in ex.steps]
    return found


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), flags=re.M))


@pytest.mark.parametrize(("command", "where"), _commands(), ids=lambda v: v if " " not in v else None)
def test_every_command_the_handbook_teaches_exists(command: str, where: str) -> None:
    argv = shlex.split(command.split("  ", maxsplit=1)[0])
    if argv[0] == "relay":
        check_relay_command(argv, where)
    elif argv[0] == "make":
        assert argv[1] in _make_targets(), f"{where}: `make {argv[1]}` is not a Makefile target"


def test_every_role_and_stage_is_covered() -> None:
    assert set(DAYS) == set(Role)
    assert set(TOUR) == {s.name for s in STAGES} == set(team.load().raci)


def test_check_fails_when_a_role_page_is_edited(tmp_path: Path) -> None:
    name = "docs/roles/ml-engineer.md"
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_text((REPO / name).read_text().replace("Tighten the promotion gate", "Loosen it"))
    problems = pages.problems(tmp_path)
    assert any("ml-engineer.md" in p and "'day'" in p for p in problems), problems
    assert any("data-engineer.md is missing" in p for p in problems), problems


def test_the_repository_agrees_with_the_handbook() -> None:
    assert pages.problems(REPO) == []


def test_tour_on_a_fresh_workspace_says_what_to_run_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("dvc.yaml", "params.yaml", "contract.yaml"):
        (tmp_path / name).write_text((REPO / name).read_text())
    monkeypatch.setenv("RELAY_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["tour"])
    day = runner.invoke(app, ["tour", "--role", "data-engineer"])
    assert result.exit_code == 0, result.output
    assert result.output.count("nothing yet") >= 8
    assert "POST /v1/predict" in result.output  # the OpenAPI contract needs no model
    assert f"{len(STAGES)}/{len(STAGES)}  retrain" in result.output  # as many stages as the project's parts
    assert day.exit_code == 0 and "Land a bad batch" in day.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract.yaml", "dvc.yaml", "params.yaml"]


def _flat(text: str) -> str:
    """Rich boxes and wraps error messages; compare their words."""
    return " ".join(text.replace("│", " ").split())


def test_tour_refuses_unknown_role_and_stage() -> None:
    bad_role = runner.invoke(app, ["tour", "--role", "janitor"])
    assert bad_role.exit_code == 2 and "unknown role 'janitor'; known roles: data-engineer" in _flat(bad_role.output)
    bad_stage = runner.invoke(app, ["tour", "--stage", "deploy"])
    assert bad_stage.exit_code == 2 and "unknown stage 'deploy'" in _flat(bad_stage.output)


def test_tour_of_a_role_that_owns_no_stage() -> None:
    result = runner.invoke(app, ["tour", "--role", "business-analyst"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "C train, C evaluate, C register" in result.output


def test_check_fails_when_the_handbook_names_a_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.teaching.handbook import StageTour

    moved = StageTour(("pipelines/data/ingest_v2.py",), TOUR["ingest"].commands, TOUR["ingest"].look)
    monkeypatch.setitem(TOUR, "ingest", moved)
    problems = pages.problems(REPO)
    assert "tour of 'ingest' names pipelines/data/ingest_v2.py, which does not exist" in problems
    monkeypatch.delitem(TOUR, "ingest")
    assert "the tour has no entry for stage 'ingest'" in pages.problems(REPO)


def test_tour_reports_damaged_artifacts_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("dvc.yaml", "params.yaml", "contract.yaml"):
        (tmp_path / name).write_text((REPO / name).read_text())
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "holdout.json").write_text('{"rows": null, "roc_auc": "[/bold]"}')
    (tmp_path / "reports" / "monitoring" / "20260101T000000Z").mkdir(parents=True)
    (tmp_path / "reports" / "monitoring" / "20260101T000000Z" / "decision.json").write_text("[]")
    monkeypatch.setenv("RELAY_ROOT", str(tmp_path))
    monkeypatch.setenv("RELAY_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["tour"])
    assert result.exit_code == 0, result.output
    assert "roc_auc [/bold]" in result.output  # file contents are shown, never read as markup
    assert result.output.count("is not a MonitorDecision") == 2  # monitor and retrain say so, the tour goes on
    assert not (tmp_path / "elsewhere.db").exists()  # reading MLflow never creates a store

"""The team as data (pipelines/core/team.yaml): the RACI matrix has one accountable owner per stage, the
hand-offs name real stages, files and tests, and roles.md's generated blocks follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core import ownership_check, team
from pipelines.core.ownership import STAGES, Role
from tests.helpers import REPO


def test_every_stage_has_a_raci_row_and_hand_offs_name_their_tests() -> None:
    t = team.load()
    assert set(t.raci) == {s.name for s in STAGES}
    for h in t.handoffs:
        assert Path(h.test).name == f"test_{h.name.replace(' ', '_')}.py", "a hand-off's test is named after it"


def test_raci_has_one_accountable_owner_per_stage() -> None:
    assert team.problems() == []


def test_raci_check_catches_a_second_accountable(monkeypatch: pytest.MonkeyPatch) -> None:
    raci = team.load().raci
    monkeypatch.setitem(raci, "train", dict(raci["train"]) | {Role.ML_ENGINEER: "A/R"})
    assert any("'train'" in p and "accountable" in p for p in team.problems())


def test_a_bad_team_file_names_the_entry() -> None:
    with pytest.raises(team.TeamFileError, match="unknown role 'janitor'"):
        team.parse({"abbreviations": {r.value: "x" for r in Role}, "raci": {"train": {"janitor": "C"}}})
    with pytest.raises(team.TeamFileError, match="no abbreviation for role 'data-engineer'"):
        team.parse({})
    bad = {"name": "x", "giver": "data-engineer", "takers": [], "what": "", "checked_by": "c", "test": "t"}
    with pytest.raises(team.TeamFileError, match="hand-off 'x' needs a text 'what'"):
        team.parse({"abbreviations": {r.value: "x" for r in Role}, "handoffs": [bad]})


def test_check_fails_when_a_generated_block_is_edited(tmp_path: Path) -> None:
    (tmp_path / "roles.md").write_text((REPO / "roles.md").read_text().replace("| register |", "| register (edited) |"))
    problems = ownership_check.problems(tmp_path)
    assert any("roles.md" in p and "'raci'" in p for p in problems), problems


def test_loop_diagram_has_every_stage_and_hand_off() -> None:
    diagram = ownership_check.loop_diagram()
    assert diagram.startswith("```mermaid\nflowchart LR")
    for s in STAGES:
        assert f"{s.name}([{s.name}])" in diagram
    for h in team.load().handoffs:
        assert f'{h.from_stage} -- "{h.name}" --> {h.to_stage}' in diagram

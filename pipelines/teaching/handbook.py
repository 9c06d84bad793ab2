"""The handbook as data (owner: MLOps engineer): what `relay tour` shows for each stage and each stage
owner's working day, read from `handbook.yaml` beside this module.

The tests check that every file, command and test it names exists, so the teaching material cannot drift
from the code. Standard library and PyYAML only: copier's task renders the role pages before the project
has an environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.core import team
from pipelines.core.ownership import STAGES, Role

HANDBOOK_FILE = Path(__file__).with_name("handbook.yaml")


@dataclass(frozen=True)
class StageTour:
    """What the tour shows for one stage besides the registry's takes/hands-over."""

    files: tuple[str, ...]
    commands: tuple[str, ...]
    look: str


@dataclass(frozen=True)
class Exercise:
    title: str
    steps: tuple[str, ...]
    expect: str


def is_command(step: str) -> bool:
    """An exercise step to type (shown as code), rather than one to do by hand."""
    return step.startswith(("relay ", "make ", "dvc "))


@dataclass(frozen=True)
class RoleDay:
    """One stage owner's working day in the project."""

    role: Role
    mission: str
    files: tuple[str, ...]
    commands: tuple[str, ...]
    checks: tuple[str, ...]
    exercises: tuple[Exercise, ...]

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(s.name for s in STAGES if s.owner is self.role)

    @property
    def receives(self) -> tuple[team.Handoff, ...]:
        return tuple(h for h in team.load().handoffs if self.role in h.takers)

    @property
    def gives(self) -> tuple[team.Handoff, ...]:
        return tuple(h for h in team.load().handoffs if h.giver is self.role)


def _strings(entry: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in entry.get(key) or ())


def _load() -> tuple[dict[str, StageTour], dict[Role, RoleDay]]:
    data = yaml.safe_load(HANDBOOK_FILE.read_text(encoding="utf-8")) or {}
    tour = {
        name: StageTour(_strings(t, "files"), _strings(t, "commands"), str(t.get("look", "")))
        for name, t in (data.get("tour") or {}).items()
    }
    days = {}
    for key, d in (data.get("days") or {}).items():
        try:
            role = Role(key)
        except ValueError:
            raise ValueError(f"{HANDBOOK_FILE.name}: {key!r} is not a stage-owning role") from None
        exercises = tuple(
            Exercise(str(e["title"]), _strings(e, "steps"), str(e["expect"])) for e in d.get("exercises") or ()
        )
        days[role] = RoleDay(
            role, str(d["mission"]), _strings(d, "files"), _strings(d, "commands"), _strings(d, "checks"), exercises
        )
    return tour, days


TOUR, DAYS = _load()

"""The team around the loop (owner: MLOps engineer, with every stage owner): the roles that own no stage,
who is responsible, accountable, consulted and informed for each stage (RACI), and the hand-off contracts
between stage owners.

It extends `pipelines.core.ownership` (who *owns* each stage) with who else takes part. The prose lives in
`team.yaml` beside this module; roles.md is rendered from both, and `relay roles --check` refuses a RACI
row without exactly one accountable role (the stage's owner) or a hand-off that names an unknown stage.

Standard library and PyYAML only: copier's task renders roles.md before the project has an environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.core.ownership import STAGES, Role

TEAM_FILE = Path(__file__).with_name("team.yaml")


class TeamFileError(ValueError):
    """team.yaml does not say what this module needs; the message names the entry."""


@dataclass(frozen=True)
class OtherRole:
    """A role that ML teams have around the loop but that owns no stage in the code."""

    value: str
    label: str
    does: str
    meets_the_loop: str


AnyRole = Role | OtherRole


@dataclass(frozen=True)
class Handoff:
    """A contract between two stage owners: what one hands over, and the test that fails when it breaks."""

    name: str
    giver: Role
    takers: tuple[AnyRole, ...]
    what: str
    lives_in: tuple[str, ...]
    checked_by: str
    test: str
    from_stage: str
    to_stage: str

    @property
    def between(self) -> str:
        return f"{self.giver.label} → {', '.join(t.label for t in self.takers)}"


@dataclass(frozen=True)
class Team:
    other_roles: tuple[OtherRole, ...]
    abbreviations: dict[AnyRole, str]
    raci: dict[str, dict[AnyRole, str]]
    handoffs: tuple[Handoff, ...]

    @property
    def all_roles(self) -> tuple[AnyRole, ...]:
        return (*Role, *self.other_roles)

    def role(self, value: str) -> AnyRole:
        roles = {r.value: r for r in self.all_roles}
        if value not in roles:
            raise TeamFileError(f"unknown role {value!r}; known roles: {', '.join(roles)}")
        return roles[value]


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TeamFileError(f"{TEAM_FILE.name}: {where} needs a text {key!r}")
    return value


def parse(data: dict[str, Any]) -> Team:
    others = tuple(
        OtherRole(
            _text(o, "key", "other role"),
            *(_text(o, k, f"role {o.get('key')!r}") for k in ("label", "does", "meets_the_loop")),
        )
        for o in data.get("other_roles") or []
    )
    shorts = {
        **(data.get("abbreviations") or {}),
        **{o["key"]: o.get("abbreviation") for o in data.get("other_roles") or []},
    }
    team = Team(others, {}, {}, ())
    for r in team.all_roles:
        if not shorts.get(r.value):
            raise TeamFileError(f"{TEAM_FILE.name}: no abbreviation for role {r.value!r}")
        team.abbreviations[r] = str(shorts[r.value])
    for stage, row in (data.get("raci") or {}).items():
        team.raci[stage] = {team.role(k): str(v) for k, v in (row or {}).items()}
    handoffs = []
    for h in data.get("handoffs") or []:
        where = f"hand-off {h.get('name')!r}"
        giver = team.role(_text(h, "giver", where))
        if not isinstance(giver, Role):
            raise TeamFileError(f"{TEAM_FILE.name}: {where}: the giver must own a stage, not {giver.value!r}")
        texts = {k: _text(h, k, where) for k in ("what", "checked_by", "test", "from_stage", "to_stage")}
        takers = tuple(team.role(t) for t in h.get("takers") or [])
        lives_in = tuple(h.get("lives_in") or ())
        handoffs.append(Handoff(_text(h, "name", "hand-off"), giver, takers, lives_in=lives_in, **texts))
    return Team(team.other_roles, team.abbreviations, team.raci, tuple(handoffs))


@cache
def load() -> Team:
    return parse(yaml.safe_load(TEAM_FILE.read_text(encoding="utf-8")) or {})


def handoff(name: str) -> Handoff:
    for h in load().handoffs:
        if h.name == name:
            return h
    raise KeyError(f"unknown hand-off {name!r}; known: {', '.join(h.name for h in load().handoffs)}")


def problems(team: Team | None = None) -> list[str]:
    """A RACI matrix is only useful if every stage has exactly one accountable role: its owner. Hand-offs
    run between stages that exist."""
    team = team or load()
    stages = {s.name for s in STAGES}
    found = [f"RACI names {name!r}, which is not a stage" for name in sorted(set(team.raci) - stages)]
    for s in STAGES:
        row = team.raci.get(s.name)
        if row is None:
            found.append(f"RACI has no row for stage {s.name!r}")
            continue
        accountable = [r for r, v in row.items() if "A" in v]
        if accountable != [s.owner]:
            found.append(f"stage {s.name!r}: accountable {[r.value for r in accountable]}, owner is {s.owner.value}")
    for h in team.handoffs:
        found += [
            f"hand-off {h.name!r} names {x!r}, which is not a stage"
            for x in (h.from_stage, h.to_stage)
            if x not in stages
        ]
    return found

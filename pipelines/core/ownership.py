"""Who owns which stage: the one source of truth for ownership in Relay.

Everything that shows an owner is derived from or checked against this registry:
`roles.md`, `.github/CODEOWNERS`, the `meta.owner` of every stage in `dvc.yaml`, the tags on MLflow runs
and registered versions, the tags on Prefect tasks, and the `relay roles` table. `relay roles --check`
(and the test suite) fails when any of them disagree with what is written here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ParamSpec, TypeVar

import yaml


class Role(StrEnum):
    """The four stage-owning roles of an ML team."""

    DATA_ENGINEER = "data-engineer"
    DATA_SCIENTIST = "data-scientist"
    ML_ENGINEER = "ml-engineer"
    MLOPS_ENGINEER = "mlops-engineer"

    @property
    def label(self) -> str:
        return str(_DATA["roles"][self.value])

    @property
    def team(self) -> str:
        """The GitHub team that CODEOWNERS names for this role (rename to your organisation's teams)."""
        return f"@relay-org/{self.value}s"


@dataclass(frozen=True)
class Stage:
    """One stage of the loop, its owner and the hand-off it makes."""

    name: str
    owner: Role
    module: str
    takes: str
    hands_over: str
    dvc_stage: bool = False


# The registry's data (each stage's owner, module and hand-off in words, and the paths each role reviews) lives in
# ownership.yaml beside this module, as the team's RACI lives in team.yaml; the types, lookups and checks stay here.
_REGISTRY = Path(__file__).with_name("ownership.yaml")
_DATA = yaml.safe_load(_REGISTRY.read_text(encoding="utf-8"))
STAGES: tuple[Stage, ...] = tuple(Stage(**{**s, "owner": Role(s["owner"])}) for s in _DATA["stages"])

OWNED_PATHS: dict[Role, tuple[str, ...]] = {Role(r): tuple(paths) for r, paths in _DATA["owned_paths"].items()}

_BY_NAME = {s.name: s for s in STAGES}


def get_stage(name: str) -> Stage:
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"unknown stage {name!r}; known stages: {known}") from None


def owner_of(name: str) -> Role:
    return get_stage(name).owner


def tags_for(name: str) -> dict[str, str]:
    """Owner and stage as key/value tags (MLflow runs, registered versions, log lines)."""
    return {"relay.stage": name, "relay.owner": owner_of(name).value}


def prefect_tags(name: str) -> list[str]:
    """Owner and stage as Prefect tags (Prefect tags are plain strings)."""
    return [f"stage:{name}", f"owner:{owner_of(name).value}"]


P = ParamSpec("P")
R = TypeVar("R")


def stage(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a function as the implementation of a registered stage.

    The mark is checked by the ownership test: each registered stage has exactly one marked function,
    in the module the registry names.
    """
    spec = get_stage(name)

    def mark(fn: Callable[P, R]) -> Callable[P, R]:
        if fn.__module__ != spec.module:
            raise RuntimeError(f"stage {name!r} is registered in {spec.module}, not {fn.__module__}")
        fn.__relay_stage__ = spec  # type: ignore[attr-defined]
        return fn

    return mark

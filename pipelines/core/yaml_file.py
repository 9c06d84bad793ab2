"""Read a YAML settings file into a pydantic model, naming every bad key; shared by params.yaml and contract.yaml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true/false. PyYAML follows YAML 1.1, where yes/no/on/off are booleans too, so
    a target's labels `positive: yes` would silently become True and never match the data's "yes"."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def safe_load(text: str) -> Any:
    """`yaml.safe_load` with YAML 1.2's booleans (see `_Yaml12Loader`)."""
    return yaml.load(text, Loader=_Yaml12Loader)


def load_model(path: Path, model: type[M], error: type[ValueError], what: str) -> M:
    """`model` validated from the mapping in `path`; any problem raises `error` with the file and key named."""
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        raw = safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{path} must hold a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise error(f"{path}: {problems}") from None

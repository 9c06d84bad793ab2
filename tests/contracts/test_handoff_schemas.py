"""The typed hand-offs keep the JSON schemas their readers rely on.

Each model in `pipelines.core.handoffs.HANDOFFS` has its schema pinned in `tests/contracts/schemas/`. A
change to a field (renamed, removed, retyped, newly required) fails here until the file is rewritten on
purpose, with `UPDATE_HANDOFF_SCHEMAS=1 .venv/bin/pytest tests/contracts/test_handoff_schemas.py`, so that a
hand-off between roles never changes shape without someone saying so in the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipelines.core.handoffs import HANDOFFS, Handoff

SCHEMAS = Path(__file__).with_name("schemas")


def _fields(schema: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Every field as `Model.field` → (its type, required), the nested models included."""
    found = {}
    for name, model in [(schema.get("title", "?"), schema), *schema.get("$defs", {}).items()]:
        required = set(model.get("required", []))
        for field, spec in model.get("properties", {}).items():
            kind = {k: v for k, v in spec.items() if k not in ("title", "description", "default")}
            found[f"{name}.{field}"] = (json.dumps(kind, sort_keys=True), field in required)
    return found


def schema_problems(model: type[Handoff]) -> list[str]:
    path = SCHEMAS / f"{model.__name__}.json"
    now = model.model_json_schema(by_alias=True)
    if os.environ.get("UPDATE_HANDOFF_SCHEMAS") == "1":
        path.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
        return []
    if not path.is_file():
        return [f"{path.name} is missing: pin the schema with UPDATE_HANDOFF_SCHEMAS=1"]
    pinned, current = _fields(json.loads(path.read_text())), _fields(now)
    problems = [f"{f} was removed or renamed" for f in sorted(pinned.keys() - current.keys())]
    problems += [f"{f} is new" for f in sorted(current.keys() - pinned.keys())]
    for f in sorted(pinned.keys() & current.keys()):
        (was, was_required), (is_, is_required) = pinned[f], current[f]
        if was != is_:
            problems.append(f"{f} changed type: {was} → {is_}")
        elif is_required and not was_required:
            problems.append(f"{f} is now required")
    return [f"{p} (pinned in tests/contracts/schemas/{path.name})" for p in problems]


@pytest.mark.parametrize("model", HANDOFFS, ids=lambda m: m.__name__)
def test_the_schema_is_the_pinned_one(model: type[Handoff]) -> None:
    assert schema_problems(model) == []

"""The layering rule from docs/architecture.md, checked: one owner's stage never imports another owner's
stage. Hand-offs go through files, MLflow URIs, the prediction log and the drift decision, and shared code
lives in the contracts layer below the stages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelines.core.ownership import Role
from tests.conftest import REPO

# Stage packages and their owners; flows and the CLI are wrappers and may import any stage.
PACKAGES = {
    "pipelines.data": Role.DATA_ENGINEER,
    "pipelines.training": Role.DATA_SCIENTIST,
    "pipelines.release": Role.ML_ENGINEER,
    "services": Role.ML_ENGINEER,
    "pipelines.monitoring": Role.MLOPS_ENGINEER,
}


def _owner(module: str) -> Role | None:
    return next((role for pkg, role in PACKAGES.items() if module == pkg or module.startswith(pkg + ".")), None)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, including imports inside functions (Relay imports heavy things lazily)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


FILES = sorted(p for pkg in PACKAGES for p in (REPO / pkg.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_stage_code_imports_no_other_owners_stage(path: Path) -> None:
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    mine = _owner(module)
    crossing = sorted(m for m in _imports(path) if (other := _owner(m)) is not None and other != mine)
    assert not crossing, (
        f"{module} ({mine.label if mine else '?'}) imports another owner's stage code: {', '.join(crossing)}; "
        "hand the result over through a file or MLflow, or move shared code to the contracts layer"
    )

"""The layering rule from docs/architecture.md, checked: one owner's stage never imports another owner's
stage. Hand-offs go through files, MLflow URIs, the prediction log and the drift decision, and shared code
lives in the core layer below the stages; and imports run down the layers of the tree."""

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
        "hand the result over through a file or MLflow, or move shared code to pipelines/core/"
    )


# The layers of docs/architecture.md, bottom up. A module may import its own layer and those below it; the
# optional teaching part (with the demo's flow) and the template's machinery are imported only by the CLI's
# marked blocks.
LAYERS: dict[str, int] = {
    "pipelines.core": 0,
    **{pkg: 1 for pkg in PACKAGES},
    "pipelines.flows": 2,
    "pipelines.flows.demo": 2,
    "pipelines.cli": 3,
    "pipelines.teaching": 3,
    "pipelines.template": 4,
}
ALL_FILES = sorted(p for p in (REPO / "pipelines").rglob("*.py")) + sorted((REPO / "services").rglob("*.py"))


def _layer(module: str) -> tuple[str, int] | None:
    found = [(pkg, n) for pkg, n in LAYERS.items() if module == pkg or module.startswith(pkg + ".")]
    return max(found, key=lambda f: len(f[0])) if found else None


def test_every_module_is_in_a_layer() -> None:
    loose = [
        p.relative_to(REPO) for p in ALL_FILES if _layer(".".join(p.relative_to(REPO).with_suffix("").parts)) is None
    ]
    assert loose == [Path("pipelines/__init__.py")], f"modules outside the layers of docs/architecture.md: {loose}"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_run_down_the_layers(path: Path) -> None:
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    mine = _layer(module)
    if mine is None:
        return
    upward = []
    for imported in _imports(path):
        theirs = _layer(imported)
        if theirs is None or theirs[0] == mine[0]:
            continue
        optional = theirs[0] in ("pipelines.teaching", "pipelines.flows.demo", "pipelines.template")
        if (module != "pipelines.cli.main") if optional else theirs[1] > mine[1]:
            upward.append(imported)
    assert not upward, f"{module} (layer {mine[0]}) imports from a layer above it or an optional part: {sorted(upward)}"

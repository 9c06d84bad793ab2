"""Every upper bound in pyproject.toml is here with the check that shows when it can go.

A bound that outlives its reason holds users back from fixes; a bound added without a check here fails the
first test, so each one is revisited when its reason disappears.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirements() -> list[str]:
    groups = PYPROJECT.get("dependency-groups", {})
    # A group may include another ({include-group = ...}); its requirements are counted in that group.
    listed = (r for group in groups.values() for r in group if isinstance(r, str))
    return [*PYPROJECT["project"]["dependencies"], *listed]


def _capped() -> dict[str, str]:
    """Package name → its upper-bound specifier, for every requirement with `<` or `<=`."""
    found = {}
    for req in _requirements():
        name = re.match(r"[A-Za-z0-9_.-]+", req)
        assert name, req
        caps = re.findall(r"<=?\s*[0-9][^,;\s]*", req)
        if caps:
            found[name.group(0).lower()] = caps[0]
    return found


def _source_of(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin, f"{package} is not installed"
    return Path(spec.origin).parent


def evidently_still_needs_old_pandas() -> str:
    """pandas<3.1: pandas 3.1 removed `infer_dtype_from_object`, which Evidently 0.7 imports at start-up."""
    users = [
        str(path.relative_to(_source_of("evidently")))
        for path in _source_of("evidently").rglob("*.py")
        if "infer_dtype_from_object" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert users, (
        "Evidently no longer imports pandas' infer_dtype_from_object: the pandas<3.1 bound in "
        "pyproject.toml can go (then run `uv lock --upgrade-package pandas` and the tests)"
    )
    return f"evidently still imports it in {users[0]}"


REASONS = {"pandas": evidently_still_needs_old_pandas}


def test_every_upper_bound_has_a_reason_and_a_check() -> None:
    unexplained = sorted(set(_capped()) - set(REASONS))
    assert not unexplained, (
        f"upper bounds without a check in {Path(__file__).name}: {unexplained}; "
        "add the failure the bound avoids and a check that shows when it can go"
    )
    stale = sorted(set(REASONS) - set(_capped()))
    assert not stale, f"checks for bounds pyproject.toml no longer has: {stale}"


def test_each_bound_is_still_needed() -> None:
    for check in REASONS.values():
        check()

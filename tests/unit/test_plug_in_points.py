"""The `# plug-in: <name>` comments mark where a project brings its own data, features and model; the table in
docs/new-project.md lists each with its file. The two must name the same points in the same files."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

# Files a project replaces as a whole (the guide copies its own contract in): listed, never marked.
WHOLE_FILES = {"contract.yaml"}
MARKER = re.compile(r"^\s*# plug-in: ([a-z][a-z-]*)\s*$")
ROW = re.compile(r"^\| `([a-z][a-z-]*)` \| `([^`]+)` \|")


def marked(root: Path) -> list[tuple[str, str]]:
    files = [root / "params.yaml", root / "dvc.yaml"]
    files += sorted((root / "pipelines").rglob("*.py")) + sorted((root / "services").rglob("*.py"))
    return [
        (m.group(1), path.relative_to(root).as_posix())
        for path in files
        for line in path.read_text().splitlines()
        if (m := MARKER.match(line))
    ]


def listed(doc: Path) -> set[tuple[str, str]]:
    return {(m.group(1), m.group(2)) for line in doc.read_text().splitlines() if (m := ROW.match(line))}


def test_every_marked_plug_in_point_is_listed_and_every_listed_one_is_marked() -> None:
    found = set(marked(REPO))
    documented = {(name, file) for name, file in listed(REPO / "docs" / "new-project.md") if file not in WHOLE_FILES}
    assert found, "no `# plug-in:` comments found"
    assert found == documented, (
        f"marked but not in docs/new-project.md: {sorted(found - documented)}; "
        f"listed there but not marked: {sorted(documented - found)}"
    )


def test_whole_file_points_are_listed() -> None:
    assert {file for _, file in listed(REPO / "docs" / "new-project.md")} >= WHOLE_FILES


def test_each_plug_in_point_is_marked_once() -> None:
    names = [name for name, _ in marked(REPO)]
    assert len(names) == len(set(names))

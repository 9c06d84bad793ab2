"""Every relative link in the Markdown files points at a file or folder that exists.

In a project made with `relay new`, this is what shows that leaving out a part left no link to it behind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.helpers import REPO

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SKIP = {".venv", ".uv", ".git", "node_modules", ".pytest_cache", "reports", "local", ".bench"}


def _markdown(root: Path) -> list[Path]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP]  # never walk into the virtualenv
        found += [Path(folder, n) for n in names if n.endswith(".md")]
    return sorted(found)


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"(?m)^#{1,6}\s+(.+?)\s*$", text)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def broken_links(root: Path) -> list[str]:
    broken = []
    for md in _markdown(root):
        text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)  # code shows, not links
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            linked = (md.parent / path) if path else md
            if not linked.exists():
                broken.append(f"{md.relative_to(root)} → {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{md.relative_to(root)} → {target} (no such heading)")
    return broken


def test_relative_links_resolve() -> None:
    found = {md.relative_to(REPO).as_posix() for md in _markdown(REPO)}
    assert {"README.md", "roles.md", "docs/architecture.md", "docs/serving.md"} <= found, "the docs were not found"
    broken = broken_links(REPO)
    assert not broken, "links to nothing:\n" + "\n".join(broken)

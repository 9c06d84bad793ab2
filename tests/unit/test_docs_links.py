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


def _markdown() -> list[Path]:
    found = []
    for folder, dirs, names in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP]  # never walk into the virtualenv
        found += [Path(folder, n) for n in names if n.endswith(".md")]
    return sorted(found)


def test_relative_links_resolve() -> None:
    broken = []
    files = _markdown()
    for md in files:
        text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)  # code shows, not links
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#", 1)[0]
            if path and not (md.parent / path).exists():
                broken.append(f"{md.relative_to(REPO)} → {target}")
    assert len(files) > 10
    assert not broken, "links to nothing:\n" + "\n".join(broken)

"""pipelines/template/size.py: what counts as a line of code, and a project's size as git lists it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipelines.template.size import code_lines, measure

SOURCE = '''"""A module docstring
over two lines."""

import os  # a trailing comment keeps its line


def f(x: int) -> int:
    """A function's docstring."""
    # a comment alone
    return (
        x + 1
    )
'''


def test_blank_lines_comments_and_docstrings_are_not_code() -> None:
    assert code_lines(SOURCE) == 5  # import, def, return ( x + 1 )
    assert code_lines("") == 0


def test_a_project_counts_tracked_files_and_python_outside_tests(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(SOURCE)
    (tmp_path / "tests" / "test_m.py").write_text("def test() -> None:\n    pass\n")
    (tmp_path / "README.md").write_text("# x\n")
    (tmp_path / "untracked.py").write_text("x = 1\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "pkg", "tests", "README.md"], cwd=tmp_path, check=True)
    size = measure(tmp_path)
    assert (size.files, size.python_files, size.python_lines, size.python_code) == (3, 1, 12, 5)

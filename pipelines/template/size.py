"""How big a project made from Relay is (Relay's own; a generated project does not receive it).

Counts what a team inherits: the files git tracks, and the Python outside `tests/`, as physical lines and as
lines of code (what cloc and pygount call code: not blank, not a comment, not a docstring). Used by
`benchmarks/starter_size.py` and the generation tests.
"""

from __future__ import annotations

import ast
import io
import subprocess
import tokenize
from dataclasses import dataclass
from pathlib import Path

_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def code_lines(source: str) -> int:
    """Lines that hold code: blank lines, comments and docstrings do not count."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and first.end_lineno is not None:
                docstrings |= set(range(first.lineno, first.end_lineno + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines |= set(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


@dataclass(frozen=True)
class Size:
    files: int  # every file git tracks
    python_files: int  # .py outside tests/
    python_lines: int  # their physical lines
    python_code: int  # their lines of code

    def __str__(self) -> str:
        return (
            f"{self.files} files; {self.python_files} Python files outside tests/ with {self.python_lines:,} lines, "
            f"{self.python_code:,} of them code"
        )


# The size test's bound on a project made with every optional part declined (issue 18): lines of code, as
# cloc counts them, so that the docstrings and why-comments the style asks for are never what gets cut.
MINIMAL_PROJECT_CODE_LIMIT = 6_000


def measure(root: Path) -> Size:
    """The size of the project at `root` (a git work tree)."""
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    return measure_files(root, listed)


def measure_files(root: Path, listed: list[str]) -> Size:
    """The size of the files `listed` (paths relative to `root`, with `/`)."""
    python = [root / p for p in listed if p.endswith(".py") and not p.startswith("tests/")]
    texts = [p.read_text(encoding="utf-8") for p in python]
    return Size(
        files=len(listed),
        python_files=len(python),
        python_lines=sum(len(t.splitlines()) for t in texts),
        python_code=sum(code_lines(t) for t in texts),
    )

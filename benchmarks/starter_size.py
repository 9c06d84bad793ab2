"""How much a new project inherits: `relay new` with every optional part kept, and with every one declined.

Each project is made by copier from this checkout's last commit (as `relay new` makes it) into a temporary
folder and measured with `pipelines.template.size`; Relay's own checkout is measured beside them.

    python benchmarks/starter_size.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.template.scaffold import OPTIONAL  # noqa: E402 (after the repository is on the path)
from pipelines.template.size import Size, measure  # noqa: E402


def make(dest: Path, declined: tuple[str, ...]) -> Path:
    relay = Path(sys.executable).parent / "relay"
    flags = [f"--no-{part}" for part in declined]
    subprocess.run(
        [str(relay), "new", str(dest), "--name", "Acme Fit", *flags], cwd=REPO, check=True, capture_output=True
    )
    return dest


def row(label: str, size: Size) -> str:
    return f"| {label} | {size.files} | {size.python_files} | {size.python_lines:,} | {size.python_code:,} |"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print("| project | files | Python files (outside tests/) | Python lines | of which code |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row("Relay's own checkout", measure(REPO)))
    with tempfile.TemporaryDirectory(prefix="relay-size-") as tmp:
        print(row("`relay new`, every part kept", measure(make(Path(tmp) / "all", ()))))
        print(row("`relay new`, every optional part declined", measure(make(Path(tmp) / "minimal", OPTIONAL))))


if __name__ == "__main__":
    main()

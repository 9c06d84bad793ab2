"""Time and peak memory of the data engineer's stages (ingest, validate, version) at 100k, 1M and 10M rows.

Each stage runs in its own process, so its peak resident memory is its own (read with wait4). The peer is the
obvious in-memory way: pandas reads the whole table and pandera validates it in one call; the ratio columns
compare Relay's chunked stages with it on the same data in the same run.

    .venv/bin/python benchmarks/data_stages.py             # 100k and 1M rows
    .venv/bin/python benchmarks/data_stages.py --rows 10000000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from measure import print_header, run_python  # benchmarks/ is on sys.path when a script here runs

REPO = Path(__file__).resolve().parents[1]

STEPS = {
    "ingest": """
from pipelines.data import ingest
landing = ingest.Landing(contract=c, raw_dir=W / "raw", quarantine_dir=W / "q")
ingest.run("batch-0001", ingest.generator_chunks(1, ROWS, 42), landing)
""",
    "validate": """
from pipelines.data import validate
validate.run(W / "raw", W / "validated", W / "validation.json", c, chunk_rows=200_000)
""",
    "version": """
from pipelines.data import version
version.run(W / "validated", W / "dataset", c, holdout_share=0.2, chunk_rows=200_000)
""",
    "peer: pandas + pandera in memory": """
import pandas as pd
frame = pd.read_parquet(W / "raw" / "batch-0001.parquet")
c.pandera_schema().validate(frame, lazy=True)
""",
}
PRELUDE = """
from pathlib import Path
from pipelines.core.contract import load
c = load(Path({repo!r}) / "contract.yaml")
W = Path({work!r})
ROWS = {rows}
"""


def run_step(code: str, work: Path, rows: int) -> tuple[float, float]:
    """Run one step in a fresh interpreter; return (seconds, peak RSS in MiB)."""
    script = PRELUDE.format(repo=str(REPO), work=str(work), rows=rows) + code
    return run_python(script, REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    print_header(34)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
            results = {}
            for name, code in STEPS.items():
                results[name] = run_step(code, Path(tmp), rows)
                seconds, peak = results[name]
                print(f"{rows:>11,} | {name:<34} | {seconds:>8.1f} | {peak:>8.0f}", flush=True)
            peer_s, peer_mb = results["peer: pandas + pandera in memory"]
            val_s, val_mb = results["validate"]
            print(
                f"{rows:>11,} | {'validate vs peer (ratio)':<34} | {val_s / peer_s:>7.2f}x | {val_mb / peer_mb:>7.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()

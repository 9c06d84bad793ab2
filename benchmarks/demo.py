"""Time `relay demo` per stage, cold (fresh clone) and warm (re-run in the same clone).

Usage: python benchmarks/demo.py [--runs N] [--record docs/benchmarks.md]

Each run is a real `relay demo` subprocess in a fresh `git clone` of this repository, using this
environment's interpreter. The per-stage seconds come from the demo's own `reports/demo/summary.json`;
the total is the wall time of the whole command, Prefect's temporary server included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "validate", "version", "train", "evaluate", "track", "register", "serve", "monitor", "retrain")
BEGIN, END = "<!-- bench-demo:begin -->", "<!-- bench-demo:end -->"


def run_demo(root: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    relay = Path(sys.executable).parent / "relay"
    started = time.perf_counter()
    log = root.parent / f"demo-{time.time_ns()}.log"
    with log.open("w") as out:
        code = subprocess.run(
            [str(relay), "demo"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False
        ).returncode
    if code != 0:
        sys.exit(f"relay demo failed with exit code {code}:\n" + log.read_text()[-4000:])
    total = time.perf_counter() - started
    summary = json.loads((root / "reports" / "demo" / "summary.json").read_text())
    return {**summary["stage_seconds"], "total": total}


def table(results: dict[str, list[dict[str, float]]]) -> str:
    cols = list(results)
    lines = ["| stage | " + " | ".join(f"{c} (s)" for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    for stage in (*STAGES, "total"):
        cells = [f"{statistics.median([r.get(stage, 0.0) for r in results[c]]):.1f}" for c in cols]
        label = f"**{stage}** (wall)" if stage == "total" else stage
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="cold+warm pairs to run (median reported)")
    parser.add_argument("--record", type=Path, help="markdown file whose bench-demo section is replaced")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    # Prefect's temporary server creates its database under PREFECT_HOME once per machine; time that apart so
    # the runs below measure the demo itself.
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from prefect import flow\n@flow(name='relay-bench-warmup')\ndef f(): pass\nf()"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    setup = time.perf_counter() - started
    results: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
            clone = Path(tmp) / "relay"
            subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
            for kind in ("cold", "warm"):
                results[kind].append(run_demo(clone))
                print(f"run {i + 1} {kind}: {results[kind][-1]['total']:.1f} s", file=sys.stderr)
            shutil.rmtree(clone, ignore_errors=True)
    body = table(results)
    body += "\n\nEvery run's wall time (s): " + "; ".join(
        f"{kind} " + ", ".join(f"{r['total']:.1f}" for r in runs) for kind, runs in results.items()
    )
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores ({cpu}), Python "
        f"{platform.python_version()}, median of {args.runs} run(s). Cold: fresh clone, empty DVC cache. "
        "Warm: the same clone again (DVC restores train from its run cache; validate and version, "
        "whose outputs persist, run again). Before the runs, "
        f"Prefect's first flow in this process tree took {setup:.1f} s (with its one-time database setup if "
        "this machine had none yet)."
    )
    print(header + "\n\n" + body)
    if args.record:
        text = args.record.read_text() if args.record.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        args.record.write_text(text[:start] + "\n" + header + "\n\n" + body + "\n" + text[end:])


if __name__ == "__main__":
    main()

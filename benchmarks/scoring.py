"""Batch scoring: `relay score` against `mlflow models predict` on the same file and the same champion.

Both score a CSV of generated records (features only) with `models:/<name>@champion`, each in a process
of its own whose wall time and peak resident memory are read with `wait4`; the runs alternate, and the ratio
is taken within each round. `mlflow models predict --env-manager local` reads the whole file into memory
and writes JSON; `relay score` checks the records against the contract, streams them in `RELAY_CHUNK_ROWS`
chunks and writes Parquet with the model and data versions.

Needs a champion in the configured MLflow store (run `make demo` first).

    .venv/bin/python benchmarks/scoring.py [--rows 1000000] [--rounds 3] [--relay-only-rows 10000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one command, children included (MLflow may spawn one)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        raise SystemExit(f"{argv[0]} failed:\n{err}")
    return seconds, usage.ru_maxrss / 1024


def write_records(path: Path, rows: int) -> None:
    from pipelines.data.generator import generate_chunks

    first = True
    for chunk in generate_chunks(9, rows, 42, []):
        features = chunk.drop(columns=["batch_id", "returned"])
        features.to_csv(path, mode="w" if first else "a", header=first, index=False)
        first = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--relay-only-rows", type=int, default=0, help="Also score this many rows with Relay alone.")
    args = parser.parse_args()
    if args.rows < 1 or args.rounds < 1:
        parser.error("--rows and --rounds must be positive")
    from pipelines.core.settings import get_settings

    s = get_settings()
    model = f"models:/{s.model_name}@champion"
    with tempfile.TemporaryDirectory(prefix="relay-scoring-") as tmp:
        source = Path(tmp) / "records.csv"
        write_records(source, args.rows)
        relay = [str(BIN / "relay"), "score", "--file", str(source), "--out", f"{tmp}/relay.parquet"]
        mlflow = [str(BIN / "mlflow"), "models", "predict", "-m", model, "-i", str(source), "-t", "csv"]
        mlflow += ["-o", f"{tmp}/mlflow.json", "--env-manager", "local"]
        print(f"{args.rows:,} records ({source.stat().st_size / 2**20:.0f} MiB CSV), {model}, {os.cpu_count()} cores")
        print("| round | relay s | relay peak MiB | mlflow s | mlflow peak MiB | mlflow s / relay s |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        ratios = []
        for n in range(1, args.rounds + 1):
            r_s, r_mem = timed(relay)
            m_s, m_mem = timed(mlflow, os.environ | {"MLFLOW_TRACKING_URI": s.tracking_uri})
            ratios.append(m_s / r_s)
            print(f"| {n} | {r_s:.1f} | {r_mem:.0f} | {m_s:.1f} | {m_mem:.0f} | {m_s / r_s:.2f} |", flush=True)
        print(f"ratio: {min(ratios):.2f}-{max(ratios):.2f} (median {statistics.median(ratios):.2f})")
        if args.relay_only_rows:
            write_records(source, args.relay_only_rows)
            r_s, r_mem = timed(relay)
            print(f"relay alone, {args.relay_only_rows:,} records: {r_s:.1f} s, peak {r_mem:.0f} MiB")


if __name__ == "__main__":
    main()

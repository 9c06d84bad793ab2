"""Time and peak memory of the data scientist's stages (train, evaluate, a sweep) at 100k and 1M rows.

The data is made by the data engineer's own stages (ingest → validate → version) in a temporary folder.
Each step runs in a fresh interpreter, so its peak resident memory is its own (read with wait4). The peer
is the bare model: the same scikit-learn pipeline fitted on the same rows with no contract check and no
threshold tuning; the ratio shows what Relay's train stage adds. The sweep runs the same four trials
with one worker and with two on each runner (a local process pool, and a Dask and a Ray cluster that
prefect-dask and prefect-ray start on this machine), through the real Prefect flow and MLflow (a
throw-away SQLite store); the process's time includes starting Prefect's temporary server, MLflow's
store and the cluster, so the flow and the trials' own wall time are reported too.

    .venv/bin/python benchmarks/training.py                  # 100k and 1M rows
    .venv/bin/python benchmarks/training.py --rows 100000 --sweep-rows 100000
    .venv/bin/python benchmarks/training.py --rows 100000 --sweep-rows 100000 --runners dask ray
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from measure import print_header, run_python  # benchmarks/ is on sys.path when a script here runs

REPO = Path(__file__).resolve().parents[1]
RUNNERS = ("processes", "dask", "ray")

PREPARE = """
from pipelines.data import ingest, validate, version
landing = ingest.Landing(contract=c, raw_dir=W / "raw", quarantine_dir=W / "q")
ingest.run("batch-0001", ingest.generator_chunks(1, ROWS, 42), landing)
validate.run(W / "raw", W / "validated", W / "validation.json", c, chunk_rows=200_000)
version.run(W / "validated", W / "dataset", c, holdout_share=0.2, chunk_rows=200_000)
"""
STEPS = {
    "train (contract check, fit, threshold)": """
from pipelines.core.params import EvaluateParams, TrainParams
from pipelines.training import train
info = train.run(W / "dataset", W / "models", c, TrainParams(), EvaluateParams())
print(f"    {info['model_kind']}, threshold {info['threshold']}", flush=True)
""",
    "evaluate (metrics, segments, plots)": """
from pipelines.core.params import EvaluateParams
from pipelines.training import evaluate
m = evaluate.run(W / "models", W / "dataset", W / "metrics", W / "plots", contract=c, params=EvaluateParams())
print(f"    holdout roc_auc {m['roc_auc']:.4f} on {int(m['rows'])} rows", flush=True)
""",
    "peer: bare pipeline.fit on the train split": """
from pipelines.core.dataset import read_split
from pipelines.core.params import TrainParams
from pipelines.training.features import build_pipeline
frame = read_split(W / "dataset", "train")
build_pipeline(TrainParams(), c).fit(frame[c.feature_columns()], frame[c.target])
""",
}
SWEEP = """
import os
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
from mlflow import MlflowClient
from pipelines.flows.sweep import sweep_flow, task_runner
from pipelines.core.lineage import configure_mlflow
from pipelines.core.params import EvaluateParams, SweepParams, TrainParams
from pipelines.training.sweep import TrialContext, candidates
uri = f"sqlite:///{W}/mlflow.db"
configure_mlflow(uri, create=True, probe=True)
client = MlflowClient()
exp = client.get_experiment_by_name("bench") or client.get_experiment(client.create_experiment("bench"))
parent = client.create_run(exp.experiment_id, run_name=f"sweep-parallel-{PARALLEL}")
space = SweepParams(trials=3, space={"learning_rate": [0.04, 0.15], "max_leaf_nodes": [15, 63]})
configs = [t.model_dump() for t in candidates(TrainParams(), space)]
ctx = TrialContext(W / "dataset", c, EvaluateParams(), uri, exp.experiment_id, parent.info.run_id, "bench",
                   threads=max(1, (os.cpu_count() or 1) // PARALLEL))
import time
started = time.perf_counter()
results = sweep_flow.with_options(task_runner=task_runner(RUNNER, PARALLEL))(configs, ctx)
flow_seconds = time.perf_counter() - started
assert len(results) == len(configs), results
trials = sum(r["metrics"]["trial_seconds"] for r in results)
# The trials' wall time: first trial's start to last trial's end, as MLflow recorded them (a cluster's
# start-up, inside the flow's time, is not in it).
runs = [client.get_run(r["run_id"]).info for r in results]
span = (max(r.end_time for r in runs) - min(r.start_time for r in runs)) / 1000
(W / f"sweep-{RUNNER}-{PARALLEL}.txt").write_text(f"{flow_seconds} {span}")
print(f"    {RUNNER}: {len(results)} trials, {trials:.1f} s of trial time, trials' wall {span:.1f} s, "
      f"flow {flow_seconds:.1f} s", flush=True)
"""
PRELUDE = """
from pathlib import Path
from pipelines.core.contract import load
c = load(Path({repo!r}) / "contract.yaml")
W = Path({work!r})
ROWS = {rows}
PARALLEL = {parallel}
RUNNER = {runner!r}
"""


def run_step(code: str, work: Path, rows: int, parallel: int = 1, runner: str = "processes") -> tuple[float, float]:
    """Run one step in a fresh interpreter; return (seconds, peak RSS in MiB of the largest process)."""
    script = PRELUDE.format(repo=str(REPO), work=str(work), rows=rows, parallel=parallel, runner=runner) + code
    return run_python(script, work)


def row(rows: int, name: str, seconds: float, peak: float | str) -> None:
    peak_text = f"{peak:>8.0f}" if isinstance(peak, float) else f"{peak:>8}"
    print(f"{rows:>11,} | {name:<42} | {seconds:>8.1f} | {peak_text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sweep-rows", type=int, nargs="*", default=[100_000, 1_000_000], help="sizes to sweep at")
    parser.add_argument(
        "--runners",
        nargs="+",
        choices=RUNNERS,
        default=list(RUNNERS),
        help="sweep task runners to time; dask and ray start a local cluster of 1 and 2 workers",
    )
    args = parser.parse_args()
    print_header(42)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
            work = Path(tmp)
            seconds, peak = run_step(PREPARE, work, rows)
            row(rows, "(data: ingest + validate + version)", seconds, peak)
            results = {}
            for name, code in STEPS.items():
                results[name] = run_step(code, work, rows)
                row(rows, name, *results[name])
            ours, _ = results["train (contract check, fit, threshold)"]
            peer, _ = results["peer: bare pipeline.fit on the train split"]
            row(rows, "train vs peer (time ratio)", ours / peer, "-")
            if rows in args.sweep_rows:
                for runner in args.runners:
                    sweep(work, rows, runner)


def sweep(work: Path, rows: int, runner: str) -> None:
    """The same four trials on `runner` with one worker and with two. The process's time includes the
    cluster's start (dask and ray start one for the flow), the flow's excludes the imports, and the
    trials' wall time is the first trial's start to the last one's end."""
    times = {}
    for workers in (1, 2):
        seconds, peak = run_step(SWEEP, work, rows, parallel=workers, runner=runner)
        flow, span = map(float, (work / f"sweep-{runner}-{workers}.txt").read_text().split())
        times[workers] = span
        row(rows, f"sweep on {runner}, {workers} worker(s): process", seconds, peak)
        row(rows, "  the flow (cluster start + trials)", flow, "-")
        row(rows, "  the trials' wall time", span, "-")
    row(rows, f"  {runner}: trials' speed-up, 2 vs 1", times[1] / times[2], "-")


if __name__ == "__main__":
    main()

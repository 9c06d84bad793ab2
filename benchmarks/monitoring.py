"""Monitoring speed and memory: the drift monitor on windows of 10k, 100k and 1M rows against a 100k reference.

For each window size, in a fresh interpreter each (so peak memory is the step's own):

- **monitor**: `drift.run` as `relay monitor` calls it, without sampling: dtype normalisation, the checks,
  Evidently's report (drift preset plus the data-quality metrics), reading its verdicts, new categories,
  the HTML report and `decision.json`.
- **Evidently alone**: the same Evidently report (`drift.report_metrics`) on the same frames, run and saved
  as HTML, nothing else. monitor minus this is Relay's overhead.
- **monitor, sampled**: `drift.run` with `sample_rows=100_000` (the default in params.yaml), and whether it
  found the same drifted features as the full run.

The windows carry the `new_brand` and `promotion` scenarios, so every run has drift to find. Data comes from
Relay's generator (nothing downloaded).

    .venv/bin/python benchmarks/monitoring.py [--rows 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_header, run_python  # benchmarks/ is on sys.path when a script here runs

REPO = Path(__file__).resolve().parents[1]
REFERENCE_ROWS = 100_000

PREPARE = """
import pandas as pd
from pipelines.data.generator import generate_batch
def frame(batch, rows, scenarios=()):
    f = generate_batch(batch, rows, seed=7, scenarios=scenarios)
    return f[c.feature_columns()].assign(prediction=0.15 + 0.3 * (f["returned"] == 1))
per_week = -(-{reference} // 3)
reference = pd.concat([frame(b, per_week) for b in (1, 2, 3)], ignore_index=True).head({reference})
reference.to_parquet(W / "reference.parquet")
frame(5, ROWS, ("new_brand", "promotion")).to_parquet(W / "window.parquet")
"""

PRELUDE = """
import json, time
from pathlib import Path
import pandas as pd
from pipelines.contract import load
c = load(Path({repo!r}) / "contract.yaml")
W = Path({work!r})
ROWS = {rows}
"""

MONITOR = """
# Imported before the clock starts, as in the Evidently-alone step: import time is not monitoring time.
import evidently, evidently.metrics, evidently.presets, evidently.tests
from pipelines.monitoring import drift
window, reference = pd.read_parquet(W / "window.parquet"), pd.read_parquet(W / "reference.parquet")
started = time.perf_counter()
d = drift.run(window, reference, W / "{name}", c, drift_share=0.25, min_rows=200, sample_rows={sample},
              reference_version="ref", model_version="1")
(W / "{name}.json").write_text(json.dumps({{"seconds": time.perf_counter() - started,
                                          "drifted": d["drifted_features"], "drift": d["drift"]}}))
"""

EVIDENTLY = """
from evidently import DataDefinition, Dataset, Report
from pipelines.monitoring import drift
window, reference = pd.read_parquet(W / "window.parquet"), pd.read_parquet(W / "reference.parquet")
numeric, categorical = drift._columns(c)
cur, ref = drift._plain(window, c), drift._plain(reference, c)
started = time.perf_counter()
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report(drift.report_metrics(c, numeric, categorical, 0.25, 0.05), include_tests=True).run(
    Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition))
snapshot.dict()
snapshot.save_html(str(W / "evidently.html"))
(W / "evidently.json").write_text(json.dumps({"seconds": time.perf_counter() - started}))
"""


def step(code: str, work: Path, rows: int) -> tuple[float, float]:
    return run_python(PRELUDE.format(repo=str(REPO), work=str(work), rows=rows) + code, work)


def row(rows: int, name: str, seconds: float, peak: float | str) -> None:
    peak_text = f"{peak:>8.0f}" if isinstance(peak, float) else f"{peak:>8}"
    print(f"{rows:>11,} | {name:<44} | {seconds:>8.2f} | {peak_text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    print(f"reference: {REFERENCE_ROWS:,} rows; windows drifted (new_brand + promotion)")
    print_header(44)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
            work = Path(tmp)
            step(PREPARE.replace("{reference}", str(REFERENCE_ROWS)), work, rows)
            _, peak = step(MONITOR.format(name="full", sample="None"), work, rows)
            full = json.loads((work / "full.json").read_text())
            row(rows, "monitor (drift.run, no sampling)", full["seconds"], peak)
            _, peak = step(EVIDENTLY, work, rows)
            alone = json.loads((work / "evidently.json").read_text())
            row(rows, "Evidently alone (same report, same frames)", alone["seconds"], peak)
            overhead = (full["seconds"] - alone["seconds"]) / alone["seconds"]
            row(rows, "  Relay's overhead (share of Evidently's time)", overhead, "-")
            _, peak = step(MONITOR.format(name="sampled", sample="100_000"), work, rows)
            sampled = json.loads((work / "sampled.json").read_text())
            row(rows, "monitor, sample_rows=100,000", sampled["seconds"], peak)
            same = sampled["drifted"] == full["drifted"] and sampled["drift"] == full["drift"]
            print(f"{'':>11} |   drifted: {', '.join(full['drifted'])}; sampled run found the same: {same}")


if __name__ == "__main__":
    main()

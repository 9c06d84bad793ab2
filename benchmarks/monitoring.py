"""Monitoring speed and memory: the drift monitor on windows of 10k, 100k and 1M rows against a 100k reference.

For each window size, in a fresh interpreter each (so peak memory is the step's own):

- **monitor**: `drift.run` as `relay monitor` calls it, without sampling: dtype normalisation, the checks,
  Evidently's report (drift preset plus the data-quality metrics), reading its verdicts, new categories,
  the HTML report and `decision.json`.
- **Evidently alone**: the same Evidently report (`drift.report_metrics`) on the same frames, run and saved
  as HTML, nothing else. monitor minus this is Relay's overhead.
- **monitor, sampled**: `drift.run` with `sample_rows=100_000` (the default in params.yaml), and whether it
  found the same drifted features as the full run.
- **model quality**: `quality.run` on the same number of labelled rows (input checks, Evidently's
  classification metrics with the ROC AUC test, `quality.html`), and the same Evidently report alone.
  The monitoring flow caps labelled rows at `monitor.sample_rows` too; here they are not capped.

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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_header, run_python  # benchmarks/ is on sys.path when a script here runs

REPO = Path(__file__).resolve().parents[1]
REFERENCE_ROWS = 100_000

PREPARE = """
import numpy as np
import pandas as pd
from pipelines.data.generator import generate_batch
def frame(batch, rows, scenarios=()):
    f = generate_batch(batch, rows, seed=7, scenarios=scenarios)
    return f[c.feature_columns()].assign(prediction=0.15 + 0.3 * (f["returned"] == 1))
per_week = -(-{reference} // 3)
reference = pd.concat([frame(b, per_week) for b in (1, 2, 3)], ignore_index=True).head({reference})
reference.to_parquet(W / "reference.parquet")
frame(5, ROWS, ("new_brand", "promotion")).to_parquet(W / "window.parquet")
# Delayed labels for the same week, with a probability that ranks them better than chance.
labelled = generate_batch(5, ROWS, seed=7, scenarios=("new_brand", "promotion"))[[c.target]]
noise = np.random.default_rng(7).uniform(size=len(labelled))
labelled.assign(prediction=0.6 * noise + 0.4 * labelled[c.target] * noise).to_parquet(W / "labelled.parquet")
"""

PRELUDE = """
import json, time
from pathlib import Path
import pandas as pd
from pipelines.core.contract import load
c = load(Path({repo!r}) / "contract.yaml")
W = Path({work!r})
ROWS = {rows}
"""

MONITOR = """
# Imported before the clock starts, as in the Evidently-alone step: import time is not monitoring time.
import evidently, evidently.metrics, evidently.presets, evidently.tests
from pipelines.core.params import MonitorParams
from pipelines.monitoring import drift
window, reference = pd.read_parquet(W / "window.parquet"), pd.read_parquet(W / "reference.parquet")
params = MonitorParams(drift_share=0.25, min_rows=200, sample_rows={sample})
inputs = drift.DriftInputs(window=window, reference=reference, contract=c, params=params,
                           reference_version="ref", model_version="1")
started = time.perf_counter()
d = drift.run(inputs, W / "{name}")
(W / "{name}.json").write_text(json.dumps({{"seconds": time.perf_counter() - started,
                                          "drifted": d.drifted_features, "drift": d.drift}}))
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

QUALITY = """
import evidently, evidently.metrics
from pipelines.core.params import MonitorParams
from pipelines.monitoring import quality
labelled = pd.read_parquet(W / "labelled.parquet")
started = time.perf_counter()
params = MonitorParams(max_quality_drop=0.05, min_rows=200)
q = quality.run(labelled, W, c, params, metric="roc_auc", baseline=0.73, threshold=0.2)
(W / "quality.json").write_text(json.dumps({"seconds": time.perf_counter() - started, "roc_auc": q.roc_auc}))
"""

QUALITY_ALONE = """
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.metrics import Accuracy, F1Score, LogLoss, Precision, Recall, RocAuc
from evidently.tests import gte
labelled = pd.read_parquet(W / "labelled.parquet").astype({c.target: "int64"})
started = time.perf_counter()
definition = DataDefinition(numerical_columns=["prediction"], categorical_columns=[c.target],
    classification=[BinaryClassification(target=c.target, prediction_probas="prediction", pos_label=1)])
t = 0.2
snapshot = Report([RocAuc(probas_threshold=t, tests=[gte(0.68)]),
                   Precision(probas_threshold=t, conf_matrix=False, tests=[]),
                   Recall(probas_threshold=t, conf_matrix=False, tests=[]),
                   F1Score(probas_threshold=t, conf_matrix=False, tests=[]),
                   Accuracy(probas_threshold=t, tests=[]), LogLoss(probas_threshold=t, tests=[])]).run(
    Dataset.from_pandas(labelled, data_definition=definition), None)
snapshot.dict()
snapshot.save_html(str(W / "quality-alone.html"))
(W / "quality-alone.json").write_text(json.dumps({"seconds": time.perf_counter() - started}))
"""


def step(code: str, work: Path, rows: int) -> tuple[float, float]:
    return run_python(PRELUDE.format(repo=str(REPO), work=str(work), rows=rows) + code, work)


def row(rows: int, name: str, seconds: float, peak: float | str) -> None:
    peak_text = f"{peak:>8.0f}" if isinstance(peak, float) else f"{peak:>8}"
    print(f"{rows:>11,} | {name:<44} | {seconds:>8.2f} | {peak_text}", flush=True)


def timed(rows: int, work: Path, code: str, name: str, label: str) -> dict[str, Any]:
    """Run one step, print its row, and return what it wrote to `<name>.json`."""
    _, peak = step(code, work, rows)
    result: dict[str, Any] = json.loads((work / f"{name}.json").read_text())
    row(rows, label, result["seconds"], peak)
    return result


def overhead(rows: int, ours: dict[str, Any], alone: dict[str, Any]) -> None:
    share = (ours["seconds"] - alone["seconds"]) / alone["seconds"]
    row(rows, "  Relay's overhead (share of Evidently's time)", share, "-")


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
            full = timed(
                rows, work, MONITOR.format(name="full", sample="None"), "full", "monitor (drift.run, no sampling)"
            )
            alone = timed(rows, work, EVIDENTLY, "evidently", "Evidently alone (same report, same frames)")
            overhead(rows, full, alone)
            sampled = timed(
                rows, work, MONITOR.format(name="sampled", sample="100_000"), "sampled", "monitor, sample_rows=100,000"
            )
            same = sampled["drifted"] == full["drifted"] and sampled["drift"] == full["drift"]
            print(f"{'':>11} |   drifted: {', '.join(full['drifted'])}; sampled run found the same: {same}")
            judged = timed(rows, work, QUALITY, "quality", "model quality (quality.run, labelled rows)")
            overhead(rows, judged, timed(rows, work, QUALITY_ALONE, "quality-alone", "Evidently classification alone"))


if __name__ == "__main__":
    main()

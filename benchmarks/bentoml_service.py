"""BentoML's server on Relay's champion: the third peer in `benchmarks/serving.py`.

BentoML's selling point for tabular models is server-side adaptive batching, the same idea as Relay's
micro-batcher, so `predict` uses it: each request carries a list of records (usually one), and BentoML's
dispatcher concatenates the lists of concurrent requests into one `predict_proba` call. `predict_many`
scores a whole list in one call without the dispatcher, for the 1,000-record comparison.

It runs only in the isolated venv that `benchmarks/bentoml_env.py` builds (BentoML is no dependency of
Relay's), and loads a joblib export of the champion rather than going through MLflow, so BentoML's own
serving path is what is measured. Configuration comes from the environment, set by `bentoml_env.start`:

    RELAY_BENCH_MODEL           the joblib file: a fitted scikit-learn Pipeline
    RELAY_BENCH_COLUMNS         feature columns, comma-separated (default: the Pipeline's feature_names_in_)
    RELAY_BENCH_MAX_LATENCY_MS  the dispatcher's latency budget (default 1000)
    RELAY_BENCH_MAX_BATCH       most records in one batched call (default 1024)

Request bodies (JSON): `POST /predict` takes `{"records": [record]}` and answers `[p]`; `POST /predict_many`
takes `{"records": [record, ...]}` and answers `[p, ...]`.
"""

# No `from __future__ import annotations`: BentoML builds its request and response models from these
# signatures at import time, and real annotation objects are the form it is documented to take.

import os
from typing import Any

import bentoml
import joblib
import pandas as pd

# Read at import: the decorator arguments below are fixed when the class is defined.
MAX_LATENCY_MS = int(os.environ.get("RELAY_BENCH_MAX_LATENCY_MS", "1000"))
MAX_BATCH = int(os.environ.get("RELAY_BENCH_MAX_BATCH", "1024"))


@bentoml.service(
    # One worker process, as for Relay's service and MLflow's server in the same benchmark.
    workers=1,
    # BentoML runs synchronous API methods on a thread pool of this size. One thread means one
    # `predict_proba` at a time, as in Relay's batcher; the model already uses both cores through OpenMP.
    threads=1,
    # An access-log line per request is work neither Relay's log (a database row) nor MLflow's (nothing)
    # does in the same way; leave it out so the comparison is of serving, not of logging.
    logging={"access": {"enabled": False}},
)
class RelayBench:
    def __init__(self) -> None:
        # Runs in the worker process only; the `bentoml serve` parent imports the class but never builds it.
        self.model = joblib.load(os.environ["RELAY_BENCH_MODEL"])
        columns = os.environ.get("RELAY_BENCH_COLUMNS", "")
        self.columns = columns.split(",") if columns else list(self.model.feature_names_in_)

    def _score(self, records: list[dict[str, Any]]) -> list[float]:
        # Built as Relay's batcher builds it, then the Pipeline's own columns in their order. A column no
        # record has is a KeyError (500); one only some records lack becomes NaN, since nothing here
        # validates records the way Relay's schema does. In a batched call an error fails every request
        # in the batch.
        frame = pd.DataFrame.from_records(records)[self.columns]
        return [float(p) for p in self.model.predict_proba(frame)[:, 1]]

    # A batchable API takes a batch and must answer one item per input item: BentoML concatenates the
    # `records` lists of concurrent requests (its default list container, batch_dim 0) and splits the
    # answer back by their lengths. max_latency_ms is a budget, not a window: requests the dispatcher
    # predicts will miss it are answered 503 rather than served late.
    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, records: list[dict[str, Any]]) -> list[float]:
        return self._score(records)

    @bentoml.api
    def predict_many(self, records: list[dict[str, Any]]) -> list[float]:
        return self._score(records)

"""The prediction log's state on the service's /metrics (owner: ML engineer), for the alerting rules in
infra/prometheus/alerts.yml. Part of the containers part, with the rest of the Prometheus set-up.

The writer itself knows nothing of Prometheus: this collector reads its numbers at each scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines.core.prediction_log import PredictionLogWriter


class PredictionLogMetrics(Collector):
    """`writer` is handed over by the /metrics route at each scrape; until then the log has lost nothing."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.writer: PredictionLogWriter | None = None
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        w = self.writer
        yield CounterMetricFamily(
            "relay_prediction_log_rows_lost",
            "Prediction-log rows lost since the service started: refused by the store, left by a writer that died, or "
            "beyond RELAY_PREDICTION_LOG_HOLD_ROWS while the store was unreachable",
            value=w.failed if w else 0,
        )
        yield GaugeMetricFamily(
            "relay_prediction_log_reachable",
            "1 while predictions reach the prediction log; 0 while its rows are held and retried (service unready)",
            value=float(w is None or w.problem is None),
        )

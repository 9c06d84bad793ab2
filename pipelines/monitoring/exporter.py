"""Monitoring gauges for Prometheus (owner: MLOps engineer, part of the monitor stage).

The monitor is a batch job, so it does not serve metrics itself: it writes its decision and a row in the
history table. This collector reads the newest run from that table (and its `decision.json`) at every
scrape, and `relay monitor-exporter` serves it on /metrics for Prometheus. Nothing is cached, so a scrape
always shows the latest decision, and the exporter can restart at any time without losing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines.core.handoffs import DECISION_FILE, HandoffError, MonitorDecision
from pipelines.monitoring import history


class MonitoringCollector(Collector):
    """`max_age_s`: how old the newest run may grow before the RelayMonitorStale alert fires. It is served as a
    gauge, so the rule in infra/prometheus/alerts.yml stays the same whatever the monitor's schedule."""

    def __init__(self, url: str, max_age_s: float = 7200) -> None:
        self.url, self.max_age_s = url, max_age_s

    def collect(self) -> Iterator[Metric]:
        runs = history.read(self.url)
        yield GaugeMetricFamily("relay_monitor_runs", "Monitor runs recorded in the history table", value=len(runs))
        yield GaugeMetricFamily(
            "relay_monitor_max_age_seconds",
            "How old the newest monitor run may be before it counts as overdue (relay monitor-exporter --max-age)",
            value=self.max_age_s,
        )
        if runs.empty:
            return
        newest = runs.iloc[0]
        model = str(newest["model_version"])
        decision = _decision(str(newest["report"]))

        def gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
            labels = {"model_version": model, **(labels or {})}
            g = GaugeMetricFamily(name, doc, labels=list(labels))
            g.add_metric(list(labels.values()), value)
            return g

        yield gauge("relay_drift_detected", "1 when the newest monitor run found dataset drift", float(newest["drift"]))
        yield gauge("relay_drift_share", "Share of drifted columns in the newest monitor run", newest["drift_share"])
        yield gauge(
            "relay_drift_share_threshold",
            "Share of drifted columns that counts as drift",
            newest["drift_share_threshold"],
        )
        yield gauge(
            "relay_prediction_drift",
            "1 when the newest run found the predictions drifted",
            float(newest["prediction_drift"]),
        )
        yield gauge(
            "relay_data_quality_ok",
            "1 when the newest run found no data-quality problem",
            float(newest["data_quality"] == "ok"),
        )
        yield gauge("relay_monitor_window_rows", "Rows in the newest run's window", float(newest["window_rows"]))
        yield gauge(
            "relay_monitor_last_run_timestamp_seconds",
            "When the newest monitor run finished (Unix time)",
            _timestamp(str(newest["created_at"])),
        )
        if decision is None:
            return  # the report folder was cleaned up; the table's summary gauges still stand
        quality = decision.model_quality
        if quality is not None:
            yield gauge(
                "relay_model_quality_labelled_rows",
                "Labelled rows since the champion's training data that the newest run judged it on",
                float(quality.labelled_rows),
            )
        # Only a judged run has a verdict; a missing series (not 0) says "not judged" so alerts do not fire on it.
        if quality is not None and quality.status == "judged":
            yield gauge(
                "relay_model_quality_ok",
                "1 when the judged metric on new labels is within its limit",
                float(bool(quality.ok)),
            )
            yield gauge(
                "relay_model_quality",
                f"The champion's {quality.metric} on the new labels (the metric promote.metric names, or the task's)",
                _number(quality.value),
            )
            yield gauge(
                "relay_model_quality_limit",
                "The worst acceptable value: the champion's holdout score made worse by monitor.max_quality_drop",
                _number(quality.limit),
            )
        if decision.retraining is not None:
            yield gauge(
                "relay_retraining_failed",
                "1 when the retraining the newest run started failed (the champion kept serving)",
                float(decision.retraining.failed),
            )
        columns = decision.columns
        if columns:
            score = GaugeMetricFamily(
                "relay_feature_drift_score",
                "Drift score per column in the newest run (see relay_feature_drift_threshold for the method's bound)",
                labels=["model_version", "feature", "method"],
            )
            bound = GaugeMetricFamily(
                "relay_feature_drift_threshold",
                "The drift method's threshold per column",
                labels=["model_version", "feature"],
            )
            drifted = GaugeMetricFamily(
                "relay_feature_drifted",
                "1 when the column drifted in the newest run",
                labels=["model_version", "feature"],
            )
            for feature, c in sorted(columns.items()):
                score.add_metric([model, feature, c.method], c.score)
                bound.add_metric([model, feature], c.threshold)
                drifted.add_metric([model, feature], float(c.drifted))
            yield score
            yield bound
            yield drifted


def _number(value: float | None) -> float:
    """A judged run has both numbers; NaN (not 0, a real ROC AUC) marks one that is missing."""
    return float("nan") if value is None else float(value)


def _decision(report: str) -> MonitorDecision | None:
    try:
        return MonitorDecision.read(Path(report).with_name(DECISION_FILE))
    except HandoffError:
        return None


def _timestamp(created_at: str) -> float:
    for fmt in (None, "%Y%m%dT%H%M%SZ"):
        try:
            parsed = (
                datetime.fromisoformat(created_at)
                if fmt is None
                else datetime.strptime(created_at + "+0000", fmt + "%z")
            )
            return parsed.timestamp()
        except ValueError:
            continue
    return float("nan")

"""The prediction log's state on /metrics, as the alerting rules read it (infra/prometheus/alerts.yml)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from prometheus_client import generate_latest

from services.api.observability import Metrics


def test_lost_rows_and_an_unreachable_log_show_at_the_next_scrape() -> None:
    metrics = Metrics()
    text = generate_latest(metrics.registry).decode()
    # Before the lifespan has started the writer: nothing lost, nothing held.
    assert "relay_prediction_log_rows_lost_total 0.0" in text and "relay_prediction_log_reachable 1.0" in text
    writer = SimpleNamespace(failed=3, problem="prediction log unreachable, rows kept and retried: locked")
    metrics.prediction_log.writer = cast(Any, writer)
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE relay_prediction_log_rows_lost_total counter" in text
    assert "relay_prediction_log_rows_lost_total 3.0" in text and "relay_prediction_log_reachable 0.0" in text
    writer.problem = None
    assert "relay_prediction_log_reachable 1.0" in generate_latest(metrics.registry).decode()

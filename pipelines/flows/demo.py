"""The demo flow: the whole loop on synthetic data, in one process, with no servers to install.

ingest → validate → version → train → track → register → serve → monitor → retrain → new champion served.
It starts the prediction service as `relay serve` (the same code a user runs) on 127.0.0.1 and a free port,
replays a drifted week of orders as live traffic, lets the monitor catch the drift, retrains on the new
data version, and stops the service with SIGTERM once it serves the new champion.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from rich.table import Table

from pipelines.core.handoffs import (
    SUMMARY_FILE,
    DemoSummary,
    DriftSeen,
    ModelQuality,
    MonitorDecision,
    Retraining,
    TrainingOutcome,
)
from pipelines.core.ownership import get_stage, prefect_tags
from pipelines.core.settings import Settings, get_settings
from pipelines.flows.common import (
    STAGE_SECONDS,
    banner,
    console,
    import_in_background,
    note,
    prepare_environment,
    reporting_to,
    timed,
)
from pipelines.flows.monitoring import monitoring_flow
from pipelines.flows.service import (
    launch_service,
    replay_orders,
    stop_service,
    wait_for_log,
    wait_for_version,
    wait_until_ready,
)
from pipelines.flows.training import training_flow

if TYPE_CHECKING:
    from pipelines.data.ingest import IngestResult


@task(name="ingest", tags=prefect_tags("ingest"))
def ingest_batch(settings: Settings, batch: int, scenarios: list[str]) -> IngestResult:
    from pipelines.data import ingest

    p = settings.params.ingest
    landing = ingest.Landing.from_settings(settings)
    chunks = ingest.generator_chunks(batch, p.rows_per_batch, p.seed, scenarios)
    return ingest.run(f"batch-{batch:04d}", chunks, landing, origin="generator")


# No retries: replaying is not idempotent, a retry would log the same orders twice.
@task(name="replay-traffic", tags=prefect_tags("serve"))
def replay_traffic(url: str, batch: int, settings: Settings) -> int:
    d = settings.params.demo
    return replay_orders(url, batch, list(d.drift_scenarios), settings, chunk=d.replay_batch_size)


def preload_while_training() -> None:
    """Import, on a side thread, what the steps after the first training need: DVC (its first stage), skops
    (MLflow's safe model format, for the track step) and Evidently (for the monitor) take seconds to import,
    while the flow mostly waits on DVC's stage subprocesses."""
    import_in_background("dvc.repo", "skops.io", "evidently")


def init_tracking_store(settings: Settings) -> None:
    """Create the MLflow store's tables (a fresh embedded store runs MLflow's schema migrations)."""
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(settings.tracking_uri, create=True)
    MlflowClient().search_experiments(max_results=1)


def reset_demo_state(settings: Settings) -> None:
    """Start the story at week 1: clear landed batches, the prediction log and the embedded MLflow store.
    DVC's cache stays, so stages whose inputs match an earlier run are restored instead of re-run."""
    if settings.raw_dir.is_dir():
        foreign = [p.name for p in settings.raw_dir.iterdir() if not re.fullmatch(r"batch-\d{4}\.parquet", p.name)]
        if foreign:
            raise FileExistsError(
                f"{settings.raw_dir} holds batches the demo did not make ({', '.join(sorted(foreign)[:5])}); "
                "the demo starts by clearing that folder, so move them elsewhere first"
            )
        shutil.rmtree(settings.raw_dir)
    if not settings.prediction_log_url:  # only the embedded default log, never one the user pointed us at
        Path(settings.prediction_log.removeprefix("sqlite:///")).unlink(missing_ok=True)
    if not settings.monitoring_url:  # its rows name model versions of the store cleared below
        Path(settings.monitoring_store.removeprefix("sqlite:///")).unlink(missing_ok=True)
    if settings.uses_embedded_mlflow:
        shutil.rmtree(settings.local_dir / "mlflow", ignore_errors=True)
    else:
        note(f"MLflow at {settings.tracking_uri} is not the embedded store; leaving its runs and models as they are")


def _start_prefect_api() -> None:
    """Have Prefect's API answer: without PREFECT_API_URL this starts its temporary local server (seconds)."""
    from prefect.client.orchestration import get_client

    # A failure here would print a thread's traceback; the flow's own start meets it again and reports it in
    # one line through the CLI's error handling.
    with contextlib.suppress(Exception), get_client(sync_client=True) as client:
        client.api_healthcheck()


def run_demo(settings: Settings | None = None, server: Any = None) -> DemoSummary:
    """Start the story at week 1 and run the demo flow, reporting to `server` if one was started for it
    (`relay demo` starts one first thing, see `pipelines.flows.prefect_api`).

    The reset and the new MLflow store (its schema migrations take seconds) need no Prefect, so they run while
    Prefect's server starts on the other core, instead of after it.
    """
    s = settings or get_settings()
    prepare_environment(s)
    console.rule("[bold]Relay demo: fit returns, from raw orders to a retrained champion")
    note("Data is synthetic, generated by pipelines/data/generator.py (deterministic for a seed).")
    warm_up = None
    if server is None:
        warm_up = threading.Thread(target=_start_prefect_api, name="prefect-api", daemon=True)
        warm_up.start()
    reset_demo_state(s)
    # Create the MLflow store's tables before two processes (the flow and the service) open it at once.
    init_tracking_store(s)
    # The libraries the flow and the side thread (see `preload_while_training`) both need are imported now, so
    # the two never import the same module at once.
    for module in ("numpy", "pandas", "scipy.stats", "sklearn.metrics", "pyarrow.parquet"):
        importlib.import_module(module)
    if warm_up is not None:
        warm_up.join()
    with reporting_to(server):
        return demo_flow(settings=s)


@dataclass
class _Story:
    """The demo as it goes: the settings, the running service and the wall time of each step."""

    s: Settings
    url: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    clock: float = field(default_factory=time.perf_counter)

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self.clock, 2)
        self.clock = now

    @property
    def told(self) -> Settings:
        """Settings whose promotion step tells the demo's service to load a new champion at once, rather than
        at its next poll of the registry."""
        return self.s.model_copy(update={"service_urls": [self.url]})


def _first_champion(story: _Story) -> TrainingOutcome:
    d = story.s.params.demo
    console.rule("1. Weeks " + ", ".join(map(str, d.train_batches)) + " of orders arrive")
    with timed("ingest"):
        landed = [ingest_batch(story.s, b, []) for b in d.train_batches]
    for item in landed:
        banner("ingest", f"{item.batch_id}: {item.rows} orders {item.status} in data/raw/")
    story.lap("ingest")
    console.rule("2-4. DVC pipeline, MLflow tracking, promotion gate")
    preload_while_training()
    first = training_flow(trigger="initial", settings=story.told)
    story.lap("train_initial")
    if not first.promoted:
        raise RuntimeError(
            f"the first model did not pass the promotion gate ({first.reason}); "
            "there is no champion to serve. See `promote` in params.yaml."
        )
    return first


def _serve_drifted_week(story: _Story, proc: subprocess.Popen[bytes], log_path: Path, first: TrainingOutcome) -> int:
    d, url = story.s.params.demo, story.url
    console.rule(f"5. The champion is served; week {d.drift_batch} arrives with drift")
    with timed("serve"):
        wait_until_ready(proc, url, log_path)
    banner("serve", f"{url} serving version {first.version} (docs: {url}/docs)")
    story.lap("serve_start")
    with timed("serve"):
        sent = replay_traffic(url, d.drift_batch, story.s)
    scenarios = ", ".join(d.drift_scenarios)
    banner("serve", f"replayed {sent} orders of week {d.drift_batch} ({scenarios}) as live traffic; all logged")
    story.lap("replay")
    return sent


def _monitor_and_retrain(story: _Story, sent: int) -> tuple[MonitorDecision, Retraining]:
    s, d = story.s, story.s.params.demo
    console.rule("6. The monitor compares traffic with the training data")
    wait_for_log(s.prediction_log, sent)
    # Retraining is automatic: on drift the monitoring flow asks for it, and it waits for the labels.
    monitoring_flow(retrain=True, settings=s)
    story.lap("monitor")
    console.rule(f"7. Week {d.drift_batch} labels arrive; the next monitoring run judges them and retrains")
    with timed("ingest"):
        labelled = ingest_batch(s, d.drift_batch, list(d.drift_scenarios))
    banner("ingest", f"{labelled.batch_id}: {labelled.rows} labelled orders {labelled.status}")
    # What the hourly schedule would do next: judge the same traffic again, now with the champion's quality
    # on the new labels, and retrain; the promotion step tells the service again.
    decision = monitoring_flow(retrain=True, settings=story.told)
    request = decision.retraining
    if request is None:
        raise RuntimeError("the demo's second monitoring run did not retrain")
    if request.failed:
        raise RuntimeError(f"the demo's retraining failed: {request.outcome}")
    story.lap("retrain")
    second = request.training
    if second and second.promoted:
        with timed("serve"):
            waited = wait_for_version(story.url, second.version)
        banner(
            "serve",
            f"service hot-swapped to version {second.version} with no restart: the promotion step told it "
            f"(POST /v1/model/reload), {waited:.1f} s after the gate",
        )
    story.lap("reload")
    return decision, request


@flow(name="demo")
def demo_flow(settings: Settings | None = None) -> DemoSummary:
    """The story from a reset workspace (`run_demo` resets it); returns the summary it writes."""
    s = settings or get_settings()
    prepare_environment(s)
    story = _Story(s)
    log_path = s.logs_dir / "api.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        # The service starts now and waits for a champion (/health/ready answers 503 until the gate promotes
        # one), as a real deployment would; its start-up overlaps the data and training stages.
        with timed("serve"):
            proc, story.url = launch_service(s, log_path)
        banner("serve", f"service starting at {story.url}; not ready until a champion exists")
        story.lap("launch")
        first = _first_champion(story)
        sent = _serve_drifted_week(story, proc, log_path, first)
        decision, request = _monitor_and_retrain(story, sent)
    finally:
        if proc is not None:
            with timed("serve"):
                code = stop_service(proc)
            # uvicorn shuts down gracefully on SIGTERM and then re-raises it, so -SIGTERM is a clean exit.
            clean = code in (0, -signal.SIGTERM)
            banner(
                "serve",
                "service stopped cleanly by SIGTERM; prediction log flushed"
                if clean
                else f"service exited with code {code}; see {log_path}",
            )

    summary = DemoSummary(
        first=first,
        drift=DriftSeen.model_validate(
            decision.model_dump(include={"drift", "drift_share", "drifted_features", "report"})
        ),
        retrain=request,
        second=request.training,
        timings_s=story.timings,
        stage_seconds={k: round(v, 2) for k, v in STAGE_SECONDS.items()},
        service_url=story.url,
    )
    summary.write(s.reports_dir / "demo" / SUMMARY_FILE)
    _print_summary(s, first, decision, request, sent)
    return summary


def _quality_line(quality: ModelQuality | None) -> str:
    if quality is None or quality.status != "judged":
        return f"model quality not judged ({quality.status if quality else 'no verdict'})"
    verdict = "holds up" if quality.ok else "dropped"
    return (
        f"{quality.metric} on {quality.labelled_rows} new labels {quality.value:.3f} "
        f"(limit {quality.limit:.3f}): {verdict}"
    )


def _print_summary(
    s: Settings, first: TrainingOutcome, decision: MonitorDecision, retraining: Retraining, sent: int
) -> None:
    from pipelines.data.version import data_version

    second = retraining.training
    champion = second if second and second.promoted else first
    auc = f"ROC AUC v{first.version} {first.candidate_metrics['roc_auc']:.3f}"
    if second:
        auc += (
            f"; on the new holdout v{second.champion_version} "
            f"{second.champion_metrics.get('roc_auc', float('nan')):.3f} vs "
            f"v{second.version} {second.candidate_metrics['roc_auc']:.3f}"
        )
    rows = [
        ("ingest", "weekly order batches landed", "data/raw/"),
        ("validate", "batches checked against contract.yaml", "data/validated/, metrics/validation.json"),
        (
            "version",
            f"data version {first.data_version[:10]} → {data_version(s.root)[:10]}",
            "`relay data versions`, dvc.lock, local/dvc-remote/",
        ),
        ("train", "scikit-learn HistGradientBoosting pipeline", "models/, `dvc repro train`"),
        ("evaluate", auc, "metrics/, plots/, `dvc metrics show`"),
        ("track", "one MLflow run per model, with lineage tags", "`make mlflow-ui` → http://127.0.0.1:5000"),
        ("register", f"champion = version {champion.version}", "`relay model status`"),
        ("serve", f"{sent} predictions logged", "`make serve` → /docs; local/predictions/"),
        (
            "monitor",
            f"drift={decision.drift}: {', '.join(decision.drifted_features) or 'none'}; "
            + _quality_line(decision.model_quality),
            # The index lists every run's decision and links to this run's report.
            str(Path(decision.index or s.reports_dir / "monitoring").relative_to(s.root)),
        ),
        ("retrain", retraining.outcome or "", "reports/monitoring/index.html, `relay model status`"),
    ]
    table = Table(title="What the demo produced")
    for col in ("stage", "owner", "produced", "where to look"):
        table.add_column(col, overflow="fold")
    for name, produced, where in rows:
        table.add_row(name, get_stage(name).owner.label, produced, where)
    console.print(table)

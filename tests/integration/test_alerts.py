"""Relay's alerting rules fire in a real Prometheus and reach their owners through a real Alertmanager.

Debian's Prometheus scrapes, every second, two real prediction services on 127.0.0.1 (one serving the champion,
one whose model has no champion) and `relay monitor-exporter`, and evaluates infra/prometheus/alerts.yml;
Debian's Alertmanager routes what fires with infra/alertmanager/alertmanager.yml to a webhook receiver in
this process. The test makes each condition true the way it happens in production (a drifted monitor run
with a quality drop and a failed retraining, no new run for longer than --max-age, a model with no champion,
requests answered 503, a prediction log that refuses rows, then one that cannot be reached) and waits, within
a deadline, until each alert fires in Prometheus and arrives at its owner's webhook path, and no other does.

The shipped files are used as they are except for time: the driven rules lose their `for` (there to ride out
restarts), the exporter's --max-age is seconds, Alertmanager sends at once (group_wait 0) and the webhook URL
is the test's. Every process is started here and stopped by its PID. The latencies seen are printed (run
with -s): from the moment the condition became true to Prometheus's firing and to the webhook's delivery.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipelines.core.prediction_log import count_rows
from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from tests.helpers import BIN, ORDERS, REPO, sample_decision

pytestmark = pytest.mark.integration
INFRA = REPO / "infra"
PLACEHOLDER = "http://127.0.0.1:9095"  # the webhook base URL in alertmanager.yml (compose swaps it the same way)
MAX_AGE_S = 3  # relay monitor-exporter --max-age: a monitor run this old is overdue
DRIVEN = {  # the alerts this test makes fire; the others (targets down) keep their `for` and must stay quiet
    "RelayDriftDetected",
    "RelayModelQualityBelowLimit",
    "RelayRetrainingFailed",
    "RelayMonitorStale",
    "RelayChampionMissing",
    "RelayHigh5xxRate",
    "RelayPredictionLogRowsLost",
    "RelayPredictionLogUnreachable",
}


def _binary(*names: str) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    message = f"no {names[0]}: `make prometheus` installs Debian's prometheus and prometheus-alertmanager"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Processes:
    """Every process the test starts, each with its log file; all stopped by PID at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.started = folder, dict[str, subprocess.Popen[bytes]]()

    def start(self, name: str, argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as out:
            # A session of its own, so a service's prediction-log writer can be stopped with it.
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options)
        self.started[name] = proc
        return proc

    def logs(self) -> str:
        tails = [f"--- {n}:\n{(self.folder / f'{n}.log').read_text(errors='replace')[-1500:]}" for n in self.started]
        return "\n".join(tails)

    def stop_all(self) -> None:
        for proc in self.started.values():  # SIGTERM to all first: the services flush their logs meanwhile
            if proc.poll() is None:
                proc.terminate()
        for proc in self.started.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):  # anything left in its session (a log writer)
                os.killpg(proc.pid, signal.SIGKILL)


class Webhook:
    """Alertmanager's webhook receiver: every delivery with the time it arrived and the path it was sent to."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[float, str, dict[str, Any]]] = []
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                deliveries.append((time.time(), self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def first(self, alertname: str, instance: str) -> tuple[float, str, dict[str, Any]] | None:
        """When and where an alert was first delivered firing, with its labels and annotations."""
        for at, path, body in list(self.deliveries):
            for alert in body["alerts"]:
                labels = alert["labels"]
                if alert["status"] == "firing" and (labels["alertname"], labels["instance"]) == (alertname, instance):
                    return at, path, alert
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def binaries() -> tuple[str, str]:
    """Prometheus and Alertmanager; asked for before the trained workspace, so a machine without them skips at once."""
    return _binary("prometheus"), _binary("prometheus-alertmanager", "alertmanager")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()
    try:
        yield receiver
    finally:
        receiver.close()


def _prometheus_config(folder: Path, alertmanager: str, exporter: str, *api: str) -> Path:
    """The shipped prometheus.yml and alerts.yml with the test's targets, one-second intervals, and no `for` on
    the rules the test drives."""
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["scrape_interval"] = "1s"
        job["static_configs"] = [{"targets": list(api) if job["job_name"] == "relay-api" else [exporter]}]
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule["alert"] in DRIVEN:
                rule.pop("for", None)
    (rule_file,) = config["rule_files"]
    (folder / rule_file).write_text(yaml.safe_dump(rules, sort_keys=False))
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "prometheus.yml"


def _alertmanager_config(folder: Path, webhook: str) -> Path:
    text = (INFRA / "alertmanager" / "alertmanager.yml").read_text()
    assert PLACEHOLDER in text
    config = yaml.safe_load(text.replace(PLACEHOLDER, webhook))
    config["route"] |= {"group_wait": "0s", "group_interval": "1s"}
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "alertmanager.yml"


def _wait(
    what: str, done: Callable[[], bool], deadline: float, processes: Processes, seen: Callable[[], str] = str
) -> float:
    """Poll `done` until it holds; once `deadline` (monotonic) has passed, fails with what was `seen` and every
    process's log."""
    while True:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            if done():
                return time.time()
        crashed = [n for n, p in processes.started.items() if p.poll() is not None]
        if crashed or time.monotonic() > deadline:
            why = f"{', '.join(crashed)} exited" if crashed else "the deadline passed"
            pytest.fail(f"waiting for {what}: {why}\n{seen()}\n{processes.logs()}")
        time.sleep(0.1)


def _epoch(rfc3339: str) -> float:
    """Prometheus's activeAt (nanoseconds, Z) as Unix time."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", rfc3339.replace("Z", "+00:00"))
    return datetime.fromisoformat(stamp).timestamp()


def _drifted_run(reports: Path, url: str) -> float:
    """Record a monitor run as the monitoring flow does: drift in two columns, the champion's ROC AUC under its
    limit on new labels, and the retraining it started failed. Returns when it finished (its created_at)."""
    from pipelines.core.handoffs import Retraining
    from pipelines.monitoring import history

    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    columns = {
        name: {"score": score, "method": "Wasserstein distance (normed)", "threshold": 0.1, "drifted": score > 0.1}
        for name, score in (("brand", 0.31), ("price", 0.22), ("channel", 0.02))
    }
    quality = {"status": "judged", "ok": False, "message": "roc_auc 0.61 < 0.68", "labelled_rows": 3000}
    decision = sample_decision(
        reports / stamp / "report.html",
        drift=True,
        drift_share=0.4,
        drifted_features=["brand", "price"],
        columns=columns,
        model_quality=quality | {"metric": "roc_auc", "value": 0.613, "limit": 0.679},
        retraining=Retraining(retrain=True, reason="drift in brand, price", failed=True),
        created_at=now.isoformat(),
    )
    decision.write(decision.path)
    history.record(decision, url, reports)
    return now.timestamp()


def _first_answer(url: str, within: float = 90) -> list[float]:
    """Poll `url` in the background; the list gets the time of its first 2xx answer."""
    seen: list[float] = []

    def poll() -> None:
        end = time.monotonic() + within
        while time.monotonic() < end:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).is_success:
                    seen.append(time.time())
                    return
            time.sleep(0.05)

    threading.Thread(target=poll, daemon=True).start()
    return seen


@dataclass
class Stack:
    at: dict[str, str]  # what runs where (host:port)
    tmp: Path
    no_champion_up: list[float]  # when the service without a champion first answered
    started_s: float = 0.0  # until Prometheus had scraped every target

    def url(self, name: str) -> str:
        return f"http://{self.at[name]}"


def _start(binaries: tuple[str, str], workspace: Path, tmp: Path, processes: Processes, webhook: Webhook) -> Stack:
    """The two services, the exporter, Alertmanager and Prometheus, started together (the services take seconds
    to import and load; the rest starts meanwhile), then waited for until Prometheus scrapes all three."""
    prometheus, alertmanager = binaries
    began = time.monotonic()
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "champion", "no-champion", "exporter")}
    stack = Stack({name: f"127.0.0.1:{port}" for name, port in ports.items()}, tmp, [])
    env = Settings(root=workspace).child_env()
    serve = [sys.executable, "-m", "pipelines.cli.main", "serve", "--host", "127.0.0.1", "--port"]
    for name, more in (("champion", {}), ("no-champion", {"RELAY_MODEL_NAME": "relay-never-registered"})):
        log = {"RELAY_PREDICTION_LOG_URL": f"sqlite:///{tmp}/{name}.db"}
        processes.start(name, [*serve, str(ports[name])], env=env | log | more, cwd=workspace)
    stack.no_champion_up = _first_answer(f"{stack.url('no-champion')}/health/live")
    exporter = [str(BIN / "relay"), "monitor-exporter", "--port", str(ports["exporter"]), "--max-age", str(MAX_AGE_S)]
    monitoring = {"RELAY_MONITORING_URL": f"sqlite:///{tmp}/monitoring.db"}
    processes.start("exporter", exporter, env=os.environ | monitoring, cwd=REPO)
    am_config = _alertmanager_config(tmp, webhook.url)
    am_flags = [f"--config.file={am_config}", f"--storage.path={tmp / 'am-data'}"]
    # No gossip port on 0.0.0.0: a single Alertmanager needs none.
    am_flags += [f"--web.listen-address={stack.at['alertmanager']}", "--cluster.listen-address="]
    processes.start("alertmanager", [alertmanager, *am_flags])
    prom_config = _prometheus_config(
        tmp, stack.at["alertmanager"], stack.at["exporter"], stack.at["champion"], stack.at["no-champion"]
    )
    prom_flags = [f"--config.file={prom_config}", f"--storage.tsdb.path={tmp / 'prom-data'}"]
    processes.start("prometheus", [prometheus, *prom_flags, f"--web.listen-address={stack.at['prometheus']}"])

    def scraped() -> bool:
        targets = httpx.get(f"{stack.url('prometheus')}/api/v1/targets").json()["data"]["activeTargets"]
        return len(targets) == 3 and all(t["health"] == "up" for t in targets)

    deadline = time.monotonic() + 120  # a bound for a very busy machine; 15-22 s here
    _wait("Alertmanager", lambda: httpx.get(f"{stack.url('alertmanager')}/-/ready").is_success, deadline, processes)
    _wait("the champion", lambda: httpx.get(f"{stack.url('champion')}/health/ready").is_success, deadline, processes)
    _wait("Prometheus scraping all three", scraped, deadline, processes)
    assert httpx.get(f"{stack.url('no-champion')}/health/ready").status_code == 503 and stack.no_champion_up
    stack.started_s = time.monotonic() - began
    return stack


@contextlib.contextmanager
def _failing_requests(url: str) -> Iterator[list[float]]:
    """Clients keep calling the service that has no model, ten times a second: each gets 503. Yields the list
    that receives the time of the first 503."""
    stop, first = threading.Event(), list[float]()

    def send() -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            while not stop.wait(0.1):
                with contextlib.suppress(httpx.HTTPError):
                    if client.post("/v1/predict", json=ORDERS.example_record()).status_code == 503 and not first:
                        first.append(time.time())

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield first
    finally:
        stop.set()
        sender.join(10)


def _rows_lost(url: str) -> float:
    found = re.search(r"^relay_prediction_log_rows_lost_total (\S+)$", httpx.get(f"{url}/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


@contextlib.contextmanager
def _log_loses_then_unreachable(stack: Stack, processes: Processes) -> Iterator[dict[str, float]]:
    """The champion's prediction log first refuses a row (a trigger raising a constraint error: the client still
    gets 200 and the row is lost), then cannot be written at all (the test holds SQLite's write lock: after its
    5 s busy timeout the writer gets "database is locked", keeps the row and retries), until the block ends.
    Yields when each began."""
    db, url, since = stack.tmp / "champion.db", stack.url("champion"), {}
    refuse = "CREATE TRIGGER relay_test_refuse BEFORE INSERT ON predictions BEGIN SELECT RAISE(ABORT, 'test'); END"
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn, conn:
        conn.execute(refuse)
    since["RelayPredictionLogRowsLost"] = time.time()
    assert httpx.post(f"{url}/v1/predict", json=ORDERS.example_record()).status_code == 200
    _wait("the lost row on /metrics", lambda: _rows_lost(url) >= 1, time.monotonic() + 10, processes)
    with contextlib.closing(sqlite3.connect(db, timeout=10, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER relay_test_refuse")
        conn.execute("BEGIN EXCLUSIVE")
        since["RelayPredictionLogUnreachable"] = time.time()
        assert httpx.post(f"{url}/v1/predict", json=ORDERS.example_record()).status_code == 200
        yield since
    # Closed: the lock is gone and the writer's next retry writes the row it held.


def _alerts(stack: Stack) -> dict[tuple[str, str], dict[str, Any]]:
    """What Prometheus has firing, by (alertname, instance)."""
    alerts = httpx.get(f"{stack.url('prometheus')}/api/v1/alerts").json()["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"]["instance"]): a for a in alerts if a["state"] == "firing"}


def test_each_alert_fires_and_reaches_its_owner(
    binaries: tuple[str, str], trained_workspace: Path, tmp_path: Path, processes: Processes, webhook: Webhook
) -> None:
    began = time.monotonic()
    stack = _start(binaries, trained_workspace, tmp_path, processes, webhook)
    exporter, champion, no_champion = stack.at["exporter"], stack.at["champion"], stack.at["no-champion"]
    ran_at = _drifted_run(tmp_path / "reports", f"sqlite:///{tmp_path}/monitoring.db")
    condition = {(name, exporter): ran_at for name in ("RelayDriftDetected", "RelayModelQualityBelowLimit")}
    condition[("RelayRetrainingFailed", exporter)] = ran_at
    condition[("RelayMonitorStale", exporter)] = ran_at + MAX_AGE_S
    condition[("RelayChampionMissing", no_champion)] = stack.no_champion_up[0]
    expected = {*condition, ("RelayHigh5xxRate", no_champion), *((n, champion) for n in DRIVEN if "Log" in n)}
    firing: dict[tuple[str, str], dict[str, Any]] = {}

    def fired_and_delivered() -> bool:
        firing.update(_alerts(stack))
        return expected <= set(firing) and all(webhook.first(*key) for key in expected)

    def missing() -> str:
        undelivered = sorted(key for key in expected if not webhook.first(*key))
        return f"not firing: {sorted(expected - set(firing))}; not delivered: {undelivered}"

    with _failing_requests(stack.url("no-champion")) as first_503, _log_loses_then_unreachable(stack, processes) as log:
        condition |= {(name, champion): at for name, at in log.items()}
        _wait("every alert firing and delivered", fired_and_delivered, time.monotonic() + 45, processes, missing)
        # Each fired only where its condition holds, and nothing else fired (asked while every condition holds).
        now_firing = set(_alerts(stack))
        assert now_firing == expected, sorted(now_firing ^ expected)
    condition[("RelayHigh5xxRate", no_champion)] = first_503[0]

    groups = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())["groups"]
    owners = {r["alert"]: r["labels"]["owner"] for g in groups for r in g["rules"]}
    rows = []
    for (name, instance), since in sorted(condition.items(), key=lambda kv: kv[1]):
        arrived, path, alert = webhook.first(name, instance) or pytest.fail(f"{name} was not delivered")
        assert path == f"/alerts/{owners[name]}" and alert["labels"]["owner"] == owners[name], (name, path)
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], name
        active = _epoch(firing[(name, instance)]["activeAt"])
        rows.append(f"| {name} | {owners[name]} | {active - since:.1f} s | {arrived - since:.1f} s |")
    stopping = time.monotonic()
    processes.stop_all()
    # The row held while the log was locked was written once it was free; only the refused one was lost.
    assert count_rows(f"sqlite:///{tmp_path}/champion.db") == 1
    print(f"\nStarted in {stack.started_s:.1f} s; scrape and evaluation every 1 s, no `for`, group_wait 0.")
    print("| alert | owner (webhook path) | condition → firing in Prometheus | condition → webhook |")
    print("| --- | --- | ---: | ---: |\n" + "\n".join(rows))
    print(f"stopped in {time.monotonic() - stopping:.1f} s; {time.monotonic() - began:.1f} s in all")

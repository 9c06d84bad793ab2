"""The compose stack's files (Dockerfile, compose, Prometheus and its alerting rules, Alertmanager, Grafana),
checked offline by the tools made for them and against Relay's own code (seconds).

They are not run here (the stack's own images are, in tests/containers/; Prometheus and Alertmanager with these
files, in tests/integration/test_alerts.py); each is validated by its schema or tool, and everything in them
that names Relay (settings, CLI commands, metrics, roles) is checked against the code, so a rename breaks a
test rather than a deployment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import BIN, REPO, check_relay_command, relay_settings_variables
from tests.helpers import run_tool as run

INFRA = REPO / "infra"
COMPOSE = INFRA / "compose.yaml"


def test_dockerfile_is_hadolint_clean() -> None:
    done = run(BIN / "hadolint", INFRA / "docker" / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [COMPOSE], ids=lambda p: p.name)
def test_compose_file_matches_the_compose_spec(path: Path) -> None:
    done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path)
    assert done.returncode == 0, done.stdout + done.stderr


def _services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_every_relay_variable_in_the_stack_is_a_setting() -> None:
    names = [k for s in _services().values() for k in (s.get("environment") or {})]
    unknown = sorted({n for n in names if n.startswith("RELAY_")} - relay_settings_variables())
    assert not unknown, f"compose sets {unknown}, which pipelines/core/settings.py does not read"


@pytest.mark.slow
def test_stack_commands_are_commands_relay_and_the_tools_have() -> None:
    for name, service in _services().items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "relay":
            check_relay_command(command, f"compose service {name}")
        elif isinstance(command, list) and command[:2] == ["mlflow", "server"]:
            options = set(re.findall(r"(--[a-z][a-z-]*)", run(BIN / "mlflow", "server", "--help").stdout))
            for arg in command[2:]:
                assert arg.split("=")[0] in options, f"compose service {name}: mlflow server has no {arg}"


def _tool(name: str, package: str) -> str:
    """The Debian tool's path; without it the test is skipped with how to get it, or fails in CI."""
    found = shutil.which(name)
    if found is None:
        message = f"no {name}: `make prometheus` installs Debian's {package} package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_prometheus_config_is_valid() -> None:
    """`check config` also checks the rule files it loads (alerts.yml)."""
    done = run(_tool("promtool", "prometheus"), "check", "config", INFRA / "prometheus" / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_alerting_rules_pass_their_unit_tests() -> None:
    done = run(_tool("promtool", "prometheus"), "test", "rules", INFRA / "prometheus" / "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_names_its_owner_says_what_to_do_and_is_unit_tested() -> None:
    from pipelines.core.ownership import Role

    tests = yaml.safe_load((INFRA / "prometheus" / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")}
    for rule in _alerts():
        name = rule["alert"]
        assert rule["labels"]["owner"] in {r.value for r in Role}, name
        assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 80, name
        assert name in tested, f"{name} never fires in alerts.test.yml"


def test_alerts_use_metrics_that_exist() -> None:
    texts = [r["expr"] + " ".join(r["annotations"].values()) for r in _alerts()]
    used = {m for t in texts for m in re.findall(r"\b(relay_[a-z_]+)", t)}
    missing = sorted(used - _exported_metric_names())
    assert not missing, f"the alerting rules query metrics nobody exports: {missing}"
    # Their `up` rules name the scrape jobs of prometheus.yml.
    jobs = {
        j["job_name"] for j in yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    }
    named = {j for t in texts for j in re.findall(r'job="([^"]+)"', t)}
    assert named and named <= jobs


def test_alertmanager_sends_each_owner_its_alerts() -> None:
    config = INFRA / "alertmanager" / "alertmanager.yml"
    amtool = _tool("amtool", "prometheus-alertmanager")
    done = run(amtool, "check-config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    for rule in _alerts():
        owner = rule["labels"]["owner"]
        labels = [f"alertname={rule['alert']}", f"owner={owner}"]
        routed = run(
            amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={owner}", *labels
        )
        assert routed.returncode == 0, f"{rule['alert']}: {routed.stdout}{routed.stderr}"


def test_compose_runs_prometheus_and_alertmanager_on_the_shipped_files() -> None:
    services = _services()
    mounts = services["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts  # beside prometheus.yml, as it names it
    alertmanager = services["alertmanager"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/relay.yml:ro" in alertmanager["volumes"]
    # The start command swaps the file's placeholder base URL for ALERT_WEBHOOK_URL.
    placeholder = re.search(r'sed "s\|([^|]+)\|\$\$ALERT_WEBHOOK_URL\|"', alertmanager["command"][0])
    assert placeholder, alertmanager["command"]
    urls = re.findall(r"url: (\S+)", (INFRA / "alertmanager" / "alertmanager.yml").read_text())
    assert urls and all(u.startswith(placeholder.group(1) + "/") for u in urls)
    assert "ALERT_WEBHOOK_URL" in alertmanager["environment"]


def _exported_metric_names() -> set[str]:
    """Every series name the API and the monitor's exporter can expose."""
    from services.api.observability import Metrics

    names: set[str] = set()
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
    for family in Metrics().registry.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    # The exporter's gauges, as its source declares them (they only appear once the monitor has run).
    exporter = (REPO / "pipelines" / "monitoring" / "exporter.py").read_text()
    names |= set(re.findall(r'"(relay_[a-z_]+)"', exporter))
    return names


def test_grafana_dashboard_uses_metrics_that_exist() -> None:
    dashboard = json.loads((INFRA / "grafana" / "dashboards" / "relay.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    used = {m for e in exprs for m in re.findall(r"\b(relay_[a-z_]+)", e)}
    missing = sorted(used - _exported_metric_names())
    assert not missing, f"the dashboard queries metrics nobody exports: {missing}"
    # The four: requests, latency, drift share, model version.
    for needed in ("relay_http_requests_total", "relay_http_request_duration_seconds_bucket", "relay_drift_share"):
        assert needed in used
    assert "relay_model_info" in used
    datasource = yaml.safe_load((INFRA / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uids = {d["uid"] for d in datasource["datasources"]}
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} <= uids


def test_compose_resolves_with_the_test_override_and_names_missing_secrets() -> None:
    base = [str(BIN / "docker-compose"), "-f", str(COMPOSE), "-f", str(INFRA / "compose.test.yaml"), "config", "-q"]
    needed = {"MLFLOW_PORT": "5001", "STACK_DB": "d", "STACK_ARTIFACTS": "/a", "STACK_WORKSPACE": "/w"}
    needed |= {"STACK_POSTGRES": "postgresql+psycopg://postgres@127.0.0.1:5432"}
    needed |= {"API_PORT_1": "8001", "API_PORT_2": "8002"}
    secrets = {"POSTGRES_PASSWORD": "x", "MINIO_ROOT_PASSWORD": "x", "GRAFANA_ADMIN_PASSWORD": "x"}
    clean = {k: v for k, v in os.environ.items() if k not in secrets}
    ok = subprocess.run(base, env=clean | needed | secrets, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(base, env=clean | needed, capture_output=True, text=True, check=False)
    # Compose v2.40 names the first missing variable it meets (in no fixed order) with our hint; its exit code
    # stays 0 for `config`.
    named = re.search(r"(\w+_PASSWORD) is missing a value: set it in infra/\.env", missing.stderr)
    assert named and named.group(1) in secrets, missing.stderr

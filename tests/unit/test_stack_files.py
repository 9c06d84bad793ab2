"""The compose stack's files (Dockerfile, compose, Prometheus, Grafana), checked offline by the tools made for
them and against Relay's own code (seconds).

They are not run here (the stack's own images are, in tests/containers/); each is validated by its schema or
tool, and everything in them that names Relay (settings, CLI commands, metrics) is checked against the code,
so a rename breaks a test rather than a deployment.
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


def test_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "no promtool: `make promtool` installs Debian's prometheus package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = run(promtool, "check", "config", INFRA / "prometheus" / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


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

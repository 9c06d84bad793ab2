"""The Kubernetes manifests, checked offline against strict Kubernetes schemas and Relay's own code (seconds)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO, check_relay_command, relay_settings_variables

K8S_DIR = REPO / "infra" / "k8s"
K8S = sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) or spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
    return list(pod.get("containers", [])) if isinstance(pod, dict) else []


def _validate(doc: dict[str, Any]) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    kubernetes_validate.validate(doc, latest_version(), strict=True)


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifests_match_the_kubernetes_schemas(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        _validate(doc)


def test_the_kubernetes_validation_would_catch_a_mistake() -> None:
    import kubernetes_validate

    doc = copy.deepcopy(next(yaml.safe_load_all((K8S_DIR / "api.yaml").read_text())))
    doc["spec"]["replicass"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(doc)


def test_kustomization_lists_every_manifest_and_image() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S)
    images = {i["name"] for i in kustomization["images"]}
    used = {c["image"] for p in K8S for d in yaml.safe_load_all(p.read_text()) for c in _containers(d)}
    assert used <= images, f"images not mapped by kustomization.yaml: {used - images}"


def test_probes_point_at_routes_the_api_serves() -> None:
    from services.api.main import create_app

    paths = set(create_app().openapi()["paths"])
    doc = next(yaml.safe_load_all((K8S_DIR / "api.yaml").read_text()))
    (api,) = _containers(doc)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"]["path"] in paths, probe
    assert {"/health/ready", "/health/live"} <= {api[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}


def test_every_relay_variable_in_the_manifests_is_a_setting() -> None:
    sources: dict[str, list[str]] = {}
    for path in K8S:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] == "ConfigMap":
                sources[path.name] = list(doc["data"])
            for container in _containers(doc):
                sources.setdefault(path.name, []).extend(e["name"] for e in container.get("env", []))
    for source, names in sources.items():
        unknown = sorted({n for n in names if n.startswith("RELAY_")} - relay_settings_variables())
        assert not unknown, f"{source} sets {unknown}, which pipelines/core/settings.py does not read"


def test_manifest_commands_are_relay_commands() -> None:
    for path in K8S:
        for doc in yaml.safe_load_all(path.read_text()):
            for container in _containers(doc):
                command = container.get("command", [])
                if command[:2] == ["sh", "-c"]:
                    command = command[2].removeprefix("exec ").replace('"', "").split()
                if command and command[0] == "relay":
                    check_relay_command(command, f"{path.name}")

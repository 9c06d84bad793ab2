"""CI and pre-commit files, checked offline by the tools made for them (seconds).

The compose stack's files are checked in test_stack_files.py and the Kubernetes manifests in
test_k8s_files.py; each goes with its part of the template when a project leaves that part out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import BIN, REPO
from tests.helpers import run_tool as run

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_match_the_github_schema(path: Path) -> None:
    done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_what_ci_run_runs() -> None:
    ci_run = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci_run
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    steps = [s.get("run", "") for s in workflow["jobs"]["test"]["steps"]]
    assert "make test" in steps


def test_pre_commit_config_is_valid() -> None:
    done = run(BIN / "pre-commit", "validate-config", REPO / ".pre-commit-config.yaml")
    assert done.returncode == 0, done.stdout + done.stderr

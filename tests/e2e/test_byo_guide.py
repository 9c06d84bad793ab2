"""docs/bring-your-own-data.md works as written: its shell steps run, in order, on a fresh copy of the template
with the telco-churn example, and the result is a versioned dataset, a registered model and a service that
accepts churn records."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, make_workspace

pytestmark = pytest.mark.e2e
GUIDE = REPO / "docs" / "bring-your-own-data.md"
MERGE_MARK = "<!-- merge into params.yaml -->"


def guide_steps() -> list[tuple[str, str]]:
    """The guide's runnable blocks in order: ("bash", script) or ("params", yaml to merge into params.yaml)."""
    text = GUIDE.read_text()
    steps = []
    for match in re.finditer(r"(?P<mark><!--[^>]*-->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", text, re.S):
        if match["lang"] == "bash":
            steps.append(("bash", match["body"]))
        elif match["lang"] == "yaml" and (match["mark"] or "").strip() == MERGE_MARK:
            steps.append(("params", match["body"]))
    return steps


def test_guide_has_the_steps_it_promises() -> None:
    kinds = [k for k, _ in guide_steps()]
    assert kinds.count("params") == 1 and kinds.count("bash") >= 4


def test_bring_your_own_data_guide_runs_as_written(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    shutil.copytree(REPO / "docs" / "examples", root / "docs" / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(root / "local" / "prefect")
    for kind, body in guide_steps():
        if kind == "params":
            params = yaml.safe_load((root / "params.yaml").read_text())
            for section, values in yaml.safe_load(body).items():
                params.setdefault(section, {}).update(values)
            (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", body],
            check=False,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"guide step failed:\n{body}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"

    assert sorted(p.stem for p in (root / "data" / "raw").glob("*.parquet")) == ["2026-01", "2026-02", "2026-03"]
    (entry,) = [json.loads(line) for line in (root / "data" / "versions.jsonl").read_text().splitlines()]
    assert entry["contract"] == "telco-churn" and entry["rows"] == 12_000
    segments = json.loads((root / "metrics" / "segments.json").read_text())
    assert "contract_type=month-to-month" in segments

    from fastapi.testclient import TestClient

    from pipelines.core.settings import Settings
    from services.api.main import create_app

    s = Settings(root=root, model_name="churn", prediction_log_url=f"sqlite:///{tmp_path}/log.db")
    record = {
        "tenure_months": 3,
        "monthly_charges": 95.0,
        "support_calls": 4,
        "contract_type": "month-to-month",
        "payment_method": "card",
        "internet_service": "fiber",
        "plan_tier": "premium",
        "region": "north",
    }
    with TestClient(create_app(s)) as client:
        r = client.post("/v1/predict", json=record)
        assert r.status_code == 200, r.text
        assert 0 <= r.json()["predictions"][0]["probability"] <= 1
        assert client.post("/v1/predict", json=record | {"contract_type": "weekly"}).status_code == 422

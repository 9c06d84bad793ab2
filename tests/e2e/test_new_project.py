"""`relay new` through copier, with answers other than Relay's, and the new project's own fast tests.

The project is made from the checkout's last commit (as `relay new` does by default, so that it can take
`copier update`): commit a change to the template before this test can see it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

pytestmark = pytest.mark.e2e

RELAY_NAMES = ("relay-returns", "relay-org", "relay-api", "relay-pipeline")


def test_a_new_project_has_its_names_its_parts_fresh_state_and_passes_its_fast_tests(tmp_path: Path) -> None:
    dest = tmp_path / "acme-fit"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "VIRTUAL_ENV"))}
    env |= {"GIT_AUTHOR_NAME": "Acme", "GIT_AUTHOR_EMAIL": "ml@acme.invalid"}
    env |= {"GIT_COMMITTER_NAME": "Acme", "GIT_COMMITTER_EMAIL": "ml@acme.invalid"}
    relay = Path(sys.executable).parent / "relay"
    made = subprocess.run(
        [
            *(str(relay), "new", str(dest), "--name", "Acme Fit", "--model-name", "fit-predictor"),
            *("--github-org", "acme", "--source", "file", "--data-path", "data/incoming/orders.csv"),
            "--no-kubernetes",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    # Rich wraps long lines (the temporary path's length varies), so words are compared, not lines.
    assert "left out: kubernetes" in " ".join(made.stdout.split())

    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "acme-fit" and answers["kubernetes"] is False
    # The recorded Relay version is a real commit of the template, so `copier update` can start from it.
    known = ["git", "-C", str(REPO), "cat-file", "-e", f"{answers['_commit']}^{{commit}}"]
    assert subprocess.run(known, check=False).returncode == 0, answers["_commit"]

    # Fresh state: one commit holding everything, and none of a checkout's runs.
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(dest), *args], capture_output=True, text=True, check=True).stdout

    assert git("rev-list", "--count", "HEAD").strip() == "1" and git("status", "--porcelain") == ""
    for leftover in ("dvc.lock", "data/raw", "data/versions.jsonl", "local", "metrics", "plots", "reports", "models"):
        assert not (dest / leftover).exists(), leftover
    assert not (dest / "infra" / "k8s").exists() and (dest / "infra" / "docker" / "Dockerfile").is_file()
    assert not (dest / "copier.yml").exists() and not (dest / "tests" / "e2e" / "test_new_project.py").exists()
    for path in dest.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.name != "scaffold.py":
            text = path.read_text(encoding="utf-8", errors="ignore")
            assert not [n for n in RELAY_NAMES if n in text], f"{path.relative_to(dest)} keeps a Relay name"
    assert "  source: file " in (dest / "params.yaml").read_text()

    # Its own environment, from its own (renamed) lock, and its own fast tests.
    uv = REPO / ".uv" / "bin" / "uv"
    make = ["make", "-C", str(dest), "test-fast"] + ([f"UV={uv}"] if uv.exists() else [])
    fast = subprocess.run(make, env=env, capture_output=True, text=True, check=False, timeout=900)
    assert fast.returncode == 0, fast.stdout[-4000:] + fast.stderr[-2000:]
    assert " passed" in fast.stdout and " failed" not in fast.stdout
    checked = subprocess.run(
        [str(dest / ".venv" / "bin" / "relay"), "roles", "--check"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lock = [str(uv), "lock", "--check", "--offline"]
    locked = subprocess.run(lock, cwd=dest, capture_output=True, text=True, check=False)
    assert not uv.exists() or locked.returncode == 0, locked.stderr


@pytest.mark.parametrize("teaching", [True, False], ids=["teaching-kept", "teaching-declined"])
def test_copier_update_brings_relays_change_and_keeps_the_users(tmp_path: Path, teaching: bool) -> None:
    """A newer Relay reaches a project through `copier update`, in the project's names, beside its own edits,
    whether the project kept the teaching part or declined it (and the experiments part with it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x.invalid"}

    def run(*args: str, cwd: Path) -> str:
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done.stdout

    upstream, project = tmp_path / "relay", tmp_path / "acme"
    run("git", "clone", "-q", str(REPO), str(upstream), cwd=tmp_path)  # Relay as committed, to change it
    relay = str(Path(sys.executable).parent / "relay")
    run(
        relay,
        "new",
        str(project),
        "--model-name",
        "fit-predictor",
        "--no-prefect-server",
        *([] if teaching else ["--no-teaching", "--no-experiments"]),
        "--from",
        str(upstream),
        cwd=REPO,
    )
    serving = project / "docs" / "serving.md"
    assert "models:/fit-predictor@champion" in serving.read_text()
    # The user edits one file; Relay changes another, on a line that carries a renamed name.
    with (project / "roles.md").open("a") as f:
        f.write("\nAcme's on-call rota lives in the wiki.\n")
    run("git", "commit", "-qam", "our note", cwd=project)
    text = (upstream / "docs" / "serving.md").read_text()
    assert "models:/relay-returns@champion" in text
    (upstream / "docs" / "serving.md").write_text(
        text.replace("models:/relay-returns@champion", "models:/relay-returns@champion (v2)", 1)
    )
    run("git", "commit", "-qam", "upstream change", cwd=upstream)

    run(str(Path(sys.executable).parent / "copier"), "update", "--trust", "--defaults", cwd=project)
    assert "models:/fit-predictor@champion (v2)" in serving.read_text()
    assert "Acme's on-call rota" in (project / "roles.md").read_text()
    assert not (project / "pipelines" / "cli" / "prefect_server.py").exists()  # the answers still hold
    assert (project / "pipelines" / "teaching").is_dir() is teaching
    assert (project / "pipelines" / "training" / "sweep.py").is_file() is teaching
    changed = sorted(line.split()[-1] for line in run("git", "status", "--porcelain", cwd=project).splitlines())
    assert changed == [".copier-answers.yml", "docs/serving.md"]

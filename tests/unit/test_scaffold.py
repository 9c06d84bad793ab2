"""pipelines/template/scaffold.py: the part markers, the answers' checks, and a project made from a copy of the
repository without copier (the full `relay new` through copier is tests/e2e/test_new_project.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.template import scaffold
from pipelines.template.scaffold import OPTIONAL, Answers, ScaffoldError, strip_blocks
from pipelines.template.size import MINIMAL_PROJECT_CODE_LIMIT, measure_files
from tests.helpers import REPO

# Relay's own names; none may survive in a project made with other answers.
RELAY_NAMES = ("relay-returns", "relay-org", "relay-api", "relay-pipeline")


def _tracked() -> list[str]:
    listed = ["git", "ls-files", "-co", "--exclude-standard"]
    out = subprocess.run(listed, cwd=REPO, capture_output=True, text=True, check=True)
    return [p for p in out.stdout.splitlines() if (REPO / p).is_file()]


def test_every_marker_in_the_repository_is_closed_and_names_a_part() -> None:
    checked = 0
    for rel in _tracked():
        if rel == "tests/unit/test_scaffold.py":
            continue  # its markers are test data
        try:
            text = (REPO / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if "part:" in text:
            assert strip_blocks(text, set(), rel) == text  # dropping nothing changes nothing
            checked += 1
    assert checked >= 10, "the part markers are gone from the files that need them"


def test_blocks_and_single_lines_go_with_their_part() -> None:
    text = "\n".join(
        [
            "keep",
            "# part:containers:begin",
            "docker",
            "  # part:kubernetes:begin",
            "  k8s inside containers",
            "  # part:kubernetes:end",
            "# part:containers:end",
            "deploy line  # part:prefect-server",
            "<!-- part:kubernetes -->",
            "fit_part: not a marker",
            "",
        ]
    )
    assert strip_blocks(text, {"containers"}) == (
        "keep\ndeploy line  # part:prefect-server\n<!-- part:kubernetes -->\nfit_part: not a marker\n"
    )
    kept_k8s_dropped = strip_blocks(text, {"kubernetes", "prefect-server"})
    assert "k8s inside" not in kept_k8s_dropped and "docker" in kept_k8s_dropped
    assert "deploy line" not in kept_k8s_dropped and "<!-- part:kubernetes -->" not in kept_k8s_dropped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# part:containers:begin\nx\n", "part:containers:begin is never closed"),
        ("x\n# part:containers:end\n", "closes no open part:containers:begin"),
        ("# part:container\n", "unknown part 'container'"),
        ("# part:containers:begin\n# part:kubernetes:end\n", "closes no open part:kubernetes:begin"),
    ],
)
def test_broken_markers_are_named_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ScaffoldError, match=message) as caught:
        strip_blocks(text, set(), "Makefile")
    assert str(caught.value).startswith("Makefile")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (Answers(project_slug="Acme Fit"), "project slug 'Acme Fit'"),
        (Answers(project_name=" "), "project name"),
        (Answers(model_name="-x"), "model name '-x'"),
        (Answers(github_org="acme/team"), "GitHub organisation"),
        (Answers(data_source="s3"), "data source 's3': one of generator, file, folder, url"),
        (Answers(data_source="file"), "needs a path or URL"),
        (Answers(data_source="url", data_path="orders.csv"), "needs an http(s) URL"),
        (Answers(keep=frozenset({"containers"})), "the containers part needs the prefect-server part"),
        (Answers(keep=frozenset({"helm"})), "unknown parts ['helm']"),
    ],
)
def test_bad_answers_are_named(answers: Answers, message: str) -> None:
    assert any(message in p for p in answers.problems()), answers.problems()


def test_bad_answers_change_nothing(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Relay\n")
    with pytest.raises(ScaffoldError, match="project slug"):
        scaffold.apply(tmp_path, Answers(project_slug="-"))
    assert (tmp_path / "README.md").read_text() == "# Relay\n"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed files, as copier would copy them, scaffolded with other answers and no optional part."""
    root = tmp_path_factory.mktemp("acme")
    for rel in _tracked():
        if rel.startswith(("data/", "metrics/", "plots/")) or rel == "dvc.lock" or "{{" in rel:
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    answers = Answers(
        project_name="Acme Fit",
        project_slug="acme-fit",
        model_name="fit-predictor",
        github_org="acme",
        data_source="folder",
        data_path="incoming/",
        keep=frozenset(),
    )
    assert scaffold.main(["--root", str(root), *_args(answers)]) == 0
    return root


def _args(a: Answers) -> list[str]:
    return [
        *("--project-name", a.project_name, "--project-slug", a.project_slug, "--model-name", a.model_name),
        *("--github-org", a.github_org, "--data-source", a.data_source, "--data-path", a.data_path),
        *("--keep", ",".join(sorted(a.keep))),
    ]


def test_the_users_names_replace_relays(made: Path) -> None:
    for path in made.rglob("*"):
        if path.is_file() and path.name != "scaffold.py":
            text = path.read_text(encoding="utf-8", errors="ignore")
            for name in RELAY_NAMES:
                assert name not in text, f"{path.relative_to(made)} still says {name!r}"
    assert 'name = "acme-fit"' in (made / "pyproject.toml").read_text()
    assert '[[package]]\nname = "acme-fit"\nversion' in (made / "uv.lock").read_text()
    assert (made / "README.md").read_text().startswith("# Acme Fit\n\nAcme Fit is an ML project made from")
    assert 'model_name: str = "fit-predictor"' in (made / "pipelines" / "core" / "settings.py").read_text()
    assert "@acme/ml-engineers" in (made / ".github" / "CODEOWNERS").read_text()
    assert not (made / ".git").exists()  # only --git-init makes a repository
    params = (made / "params.yaml").read_text()
    assert "  source: folder " in params and '  path: "incoming/" ' in params and "# data engineer" in params


def test_left_out_parts_leave_no_trace(made: Path) -> None:
    for part in (*scaffold.OPTIONAL, "template-only"):
        for rel in scaffold.PARTS[part]:
            assert not (made / rel).exists(), rel
    leftovers = subprocess.run(
        [
            "grep",
            "-rIlP",
            r"relay prefect|relay deploy|make images|deploy\.md|infra/k8s|compose\.yaml|(?<!\w)part:[a-z]"
            r"|relay train sweep|relay experiments|relay tour|docs/roles/"
            r"|make demo|relay demo\b|flows/demo|monitor-exporter|relay lineage|relay score|make audit"
            r"|/invocations|/v2/models|open_inference|mlflow_protocol"
            r"|relay monitor ui|monitoring-ui|RELAY_EVIDENTLY|evidently_location|snapshot\.json|dashboard\.py",
            ".",
        ],
        cwd=made,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    # What is left names the parts only to explain them, or to make another project with them.
    assert sorted(leftovers) == ["./docs/new-project.md"]
    assert not (made / "infra" / "scripts").exists()  # emptied, so removed
    assert (made / "infra" / "README.md").is_file()


def test_a_project_with_every_part_declined_stays_small(made: Path) -> None:
    listed = [p.relative_to(made).as_posix() for p in made.rglob("*") if p.is_file()]
    size = measure_files(made, listed)
    assert size.python_code <= MINIMAL_PROJECT_CODE_LIMIT, (
        f"a project made with every optional part declined has {size.python_code:,} lines of code outside tests/ "
        f"(limit {MINIMAL_PROJECT_CODE_LIMIT:,}): move what only some teams need into an optional part"
    )


def test_made_project_agrees_with_its_own_registry(made: Path) -> None:
    code = (
        "from pathlib import Path; from pipelines.core import ownership_check as o; from pipelines import cli; "
        "assert cli.__file__.startswith(str(Path.cwd())), cli.__file__; print(o.problems(Path.cwd()))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=made, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    roles = (made / "roles.md").read_text()
    assert "relay deploy" not in roles and "docs/deploy.md" not in roles
    assert not (made / "docs" / "roles").exists() and not (made / "pipelines" / "teaching").exists()


def test_the_handbook_without_the_prefect_server_part_is_valid_yaml() -> None:
    import yaml

    text = (REPO / "pipelines" / "teaching" / "handbook.yaml").read_text()
    mlops = yaml.safe_load(strip_blocks(text, {"prefect-server"}))["days"]["mlops-engineer"]
    assert "relay monitor" in mlops["commands"] and "relay deploy" not in mlops["commands"]
    assert "Put monitoring on a schedule" not in [e["title"] for e in mlops["exercises"]]


def test_what_copier_runs_needs_only_the_standard_library_and_pyyaml() -> None:
    """copier runs the scaffold (and, through it, the ownership renderer) with its own Python, before the
    project has an environment: pipx's copier brings PyYAML, nothing else of ours."""
    import ast

    allowed = set(sys.stdlib_module_names) | {"yaml", "pipelines"}
    modules = (
        "template.scaffold",
        "core.ownership_check",
        "core.ownership",
        "core.team",
        "teaching.handbook",
        "teaching.pages",
        "core",
        "teaching",
        "",
    )
    for name in modules:
        rel = name.replace(".", "/") + ".py" if "." in name else f"{name}/__init__.py".lstrip("/")
        path = REPO / "pipelines" / rel
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module}
            else:
                continue
            for module in roots:
                assert module.split(".")[0] in allowed, f"{path} imports {module}"
                if module.startswith("pipelines."):
                    assert module.removeprefix("pipelines.") in modules, f"{path} imports {module}"


def test_the_made_project_is_lint_clean(made: Path) -> None:
    """Dropped lines must leave code that ruff formats the same (a one-element tuple would not be)."""
    ruff = str(Path(sys.executable).parent / "ruff")
    targets = ["."]
    for command in ([ruff, "format", "--check", *targets], [ruff, "check", *targets]):
        done = subprocess.run(command, cwd=made, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_mention_of_a_part_in_a_comment_is_a_marker() -> None:
    """`<!--part:containers-->` or a misspelt kind would be kept silently; catch any such near-miss."""
    near = re.compile(r"(?:#|<!--)\s*part:[a-z-]+")
    skip = {"pipelines/template/scaffold.py", "docs/new-project.md", "tests/unit/test_scaffold.py"}
    for rel in _tracked():
        if rel in skip:
            continue
        try:
            lines = (REPO / rel).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(lines, 1):
            if near.search(line):
                assert scaffold.MARKER.search(line), f"{rel}:{number}: looks like a part marker but is not one"


def test_kubernetes_service_urls_follow_the_namespace(tmp_path: Path) -> None:
    shutil.copytree(REPO / "infra" / "k8s", tmp_path / "infra" / "k8s")
    scaffold.rename(tmp_path, Answers(project_name="Acme", project_slug="acme-fit"))
    namespace = re.search(r"(?m)^namespace: (\S+)$", (tmp_path / "infra/k8s/kustomization.yaml").read_text())
    assert namespace and namespace.group(1) == "acme-fit"
    manifests = "".join(p.read_text() for p in (tmp_path / "infra/k8s").glob("*.yaml"))
    # The project's own API lives in the project's namespace (the shared MLflow, MinIO and Prefect elsewhere).
    assert re.findall(r"//([a-z0-9-]+)-api\.([a-z0-9-]+)\.svc", manifests) == [("acme-fit", "acme-fit")]


def test_the_task_changes_only_the_templates_files(tmp_path: Path) -> None:
    template, project = tmp_path / "template", tmp_path / "project"
    for root in (template, project):
        (root / "docs").mkdir(parents=True)
        (root / "docs" / "serving.md").write_text("models:/relay-returns@champion\n")
    (project / "NOTES.md").write_text("our relay-api-compatible client\n# part:nonsense\n")
    scaffold.drop_parts(project, {"template-only"}, scaffold.template_files(template))
    scaffold.rename(project, Answers(model_name="acme-model"), scaffold.template_files(template))
    assert (project / "docs" / "serving.md").read_text() == "models:/acme-model@champion\n"
    assert (project / "NOTES.md").read_text() == "our relay-api-compatible client\n# part:nonsense\n"


def test_the_made_project_links_to_nothing_it_left_out(made: Path) -> None:
    from tests.unit.test_docs_links import broken_links

    assert broken_links(made) == []


def test_the_readme_intro_is_written_once(tmp_path: Path) -> None:
    """The task runs again on `copier update`; a second run must not add a second intro."""
    (tmp_path / "README.md").write_text("# Acme\n\nBody.\n")
    answers = Answers(project_name="Acme", project_slug="acme")
    scaffold.readme_intro(tmp_path, answers)
    once = (tmp_path / "README.md").read_text()
    scaffold.readme_intro(tmp_path, answers)
    assert (tmp_path / "README.md").read_text() == once and once.count("is an ML project made from") == 1


@pytest.mark.slow
def test_new_project_that_fails_half_way_leaves_the_given_folder_empty(tmp_path: Path) -> None:
    template, dest = tmp_path / "template", tmp_path / "dest"
    template.mkdir()
    dest.mkdir()
    (template / "copier.yml").write_text('_tasks: ["false"]\n')  # files land, then the task fails
    (template / "README.md").write_text("# Template\n")
    result = CliRunner().invoke(app, ["new", str(dest), "--name", "Acme", "--from", str(template)])
    assert result.exit_code == 1 and "copier could not make the project" in result.output
    assert list(dest.iterdir()) == []


def test_the_made_projects_tests_invoke_only_commands_it_has(made: Path) -> None:
    """A test left behind for a command whose part was declined would fail only in the new project's own
    `make test`; catch it here, from the tests' `invoke(app, ["<command>", ...])` calls."""
    listed = "import typer.main; from pipelines.cli.main import app; print(*typer.main.get_command(app).commands)"
    done = subprocess.run([sys.executable, "-c", listed], cwd=made, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    commands = set(done.stdout.split())
    called = re.compile(r"invoke\(\s*app,\s*\[\s*\"([a-z-]+)\"")
    missing = [
        f"{path.relative_to(made)}: relay {name}"
        for path in sorted((made / "tests").rglob("*.py"))
        for name in called.findall(path.read_text())
        if name not in commands
    ]
    assert commands and not missing, missing


def test_copier_yml_asks_about_every_optional_part() -> None:
    """copier reads copier.yml only when a project is made (slow tests); an unquoted `: ` in a help line made it
    invalid YAML once. Here it is parsed, and every optional part has its yes/no question and reaches --keep."""
    import yaml

    questions = yaml.safe_load((REPO / "copier.yml").read_text())
    keep = next(str(arg) for task in questions["_tasks"] for arg in task["command"] if "--keep=" in str(arg))
    for part in OPTIONAL:
        question = part.replace("-", "_")
        assert questions[question]["type"] == "bool", part
        assert f"['{part}']" in keep, part

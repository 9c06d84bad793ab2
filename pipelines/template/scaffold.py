"""Make a fresh copy of Relay into the user's own project (owner: MLOps engineer).

Relay is a copier template whose files are the working repository itself, so that the template is always
the code the tests just ran. `copier copy` (or `relay new`) copies the committed files and then runs this
script, from the template's copy, in the new project (which does not receive it), which:

- puts the user's names where Relay's stand (the project, the registered model, the GitHub teams, the image
  names) by a fixed list of rewrites (`RENAMES`); the `relay` command, the `RELAY_*` settings and the
  `relay.*` tags stay, as the template's interface, so the docs keep applying and `copier update` merges
  cleanly;
- leaves out the optional parts the user declined (`PARTS`): their paths go, and so does every block of
  text marked `part:<name>:begin` … `part:<name>:end` (or a single line marked `part:<name>`) in any file;
  blocks marked `template-only` (Relay's own pitch, the generation test) always go;
- points ingest at the user's first data source, and regenerates the ownership files so they describe what
  is left;
- with `--git-init`, makes the first commit of a new git repository.

It uses the standard library and PyYAML only (PyYAML comes with copier), because copier runs it with its own
Python before the project has an environment.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Paths each optional part owns. A part that needs another lists it in REQUIRES.
PARTS: dict[str, tuple[str, ...]] = {
    # The demo's story and the tour through it: a team's own project runs the same loop stage by stage.
    "teaching": (
        "pipelines/teaching",
        "pipelines/flows/demo.py",
        "docs/roles",
        "tests/unit/teaching",
        "tests/e2e/test_demo.py",
        # The bring-your-own-data guide's worked example (a telecom's churn exports); the guide's reference stays.
        "docs/examples",
        "tests/e2e/test_byo_guide.py",
        "tests/contracts/schemas/DemoSummary.json",
    ),
    "experiments": (
        "pipelines/training/sweep.py",
        "pipelines/training/compare.py",
        "pipelines/flows/sweep.py",
        "pipelines/cli/train.py",
        "tests/unit/training/test_sweep.py",
        "tests/unit/flows/test_sweep_runners.py",
        "tests/integration/test_sweeps.py",
        "tests/integration/test_sweep_clusters.py",
    ),
    "lineage": ("pipelines/cli/lineage.py", "tests/unit/test_lineage_command.py"),
    "batch-scoring": (
        "pipelines/release/score.py",
        "pipelines/flows/scoring.py",
        "tests/integration/test_batch_scoring.py",
    ),
    # The service's MLflow scoring protocol (/invocations) and Open Inference Protocol v2 (/v2); /v1 stays.
    "protocols": (
        "services/api/protocols.py",
        "services/api/routes/mlflow_protocol.py",
        "services/api/routes/open_inference.py",
        "tests/unit/services/test_protocols.py",
        "tests/integration/test_api_protocols.py",
    ),
    # The service's exact fast path for tree pipelines; without it every model is scored through scikit-learn.
    "fast-path": ("services/api/fast_path.py", "tests/unit/services/test_fast_path.py"),
    # Every monitor run in an Evidently workspace with a dashboard Relay provisions, and `relay monitor ui`.
    "evidently-ui": (
        "pipelines/monitoring/dashboard.py",
        "pipelines/cli/monitor_ui.py",
        "tests/unit/monitoring/test_dashboard.py",
        "tests/integration/test_evidently_ui.py",
    ),
    # Landing files from HTTP(S) URLs (ingest.source url, `relay data ingest --url`).
    "url-source": ("pipelines/data/download.py", "tests/unit/data/test_download.py"),
    # CI's check of the locked dependencies against known vulnerabilities (`make audit`).
    "audit": ("pipelines/core/audit.py", ".ci/audit-allow.toml", "tests/unit/test_audit.py"),
    # The evaluation drawn as PNG; the JSON curves that `dvc plots` draws stay.
    "pictures": ("pipelines/training/plots.py",),
    "prefect-server": (
        "pipelines/cli/prefect_server.py",
        "pipelines/flows/prefect_api.py",
        "tests/integration/test_prefect_deploy.py",
        "tests/integration/test_command_server.py",
        "tests/unit/flows/test_prefect_api.py",
    ),
    "containers": (
        "infra/docker",
        "infra/scripts/containers.sh",
        "infra/compose.yaml",
        "infra/compose.test.yaml",
        "infra/.env.example",
        "infra/postgres",
        "infra/nginx",
        "infra/prometheus",
        "infra/alertmanager",
        "pipelines/monitoring/exporter.py",
        "services/api/log_metrics.py",
        "infra/grafana",
        ".dockerignore",
        ".github/workflows/images.yml",
        "docs/deploy.md",
        "tests/containers",
        "tests/unit/test_stack_files.py",
        "tests/unit/monitoring/test_exporter.py",
        "tests/unit/services/test_log_metrics.py",
        "tests/integration/test_monitor_exporter.py",
        "tests/integration/test_alerts.py",
    ),
    "kubernetes": ("infra/k8s", "tests/unit/test_k8s_files.py"),
    # Relay's own: how to make a project from it (this package, `relay new`), the tests that do so, and the
    # benchmarks against peers with their results on Relay's machines.
    "template-only": (
        "copier.yml",
        "pipelines/template",
        "benchmarks",
        "docs/benchmarks.md",
        "tests/e2e/test_new_project.py",
        "tests/unit/test_scaffold.py",
        "tests/unit/test_size.py",
    ),
}
OPTIONAL = (
    "teaching",
    "experiments",
    "lineage",
    "batch-scoring",
    "protocols",
    "fast-path",
    "evidently-ui",
    "url-source",
    "pictures",
    "audit",
    "prefect-server",
    "containers",
    "kubernetes",
)
# The compose stack runs a Prefect server and a worker; the Kubernetes manifests deploy the images.
REQUIRES = {"containers": "prefect-server", "kubernetes": "containers"}
SOURCES = ("generator", "file", "folder", "url")

# A marker is a comment that ends its line (`# part:x`, `<!-- part:x -->`; a Markdown table row may go on after
# the `-->`), so prose that mentions a part is never taken for one.
MARKER = re.compile(r"(?:#|<!--)\s*part:([a-z][a-z-]*[a-z])(:begin|:end)?\s*(?:-->|$)")
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
SKIP_DIRS = {".git", ".venv", ".uv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


class ScaffoldError(ValueError):
    """An answer that cannot make a working project, or a template whose part markers do not balance."""


@dataclass(frozen=True)
class Answers:
    project_name: str = "Relay"
    project_slug: str = "relay"
    model_name: str = "relay-returns"
    github_org: str = "relay-org"
    data_source: str = "generator"
    data_path: str = ""
    keep: frozenset[str] = field(default_factory=lambda: frozenset(OPTIONAL))

    def problems(self) -> list[str]:
        found = []
        if not self.project_name.strip() or len(self.project_name) > 80 or "\n" in self.project_name:
            found.append("project name: give one line of at most 80 characters")
        if not SLUG.match(self.project_slug) or len(self.project_slug) > 40:
            found.append(
                f"project slug {self.project_slug!r}: lower-case letters, digits and single hyphens, starting with a "
                "letter, at most 40 characters (it names the Python distribution, the images and the namespace)"
            )
        if not MODEL.match(self.model_name) or len(self.model_name) > 100:
            found.append(
                f"model name {self.model_name!r}: letters, digits, '.', '_' and '-', starting with a letter or digit"
            )
        if not ORG.match(self.github_org):
            found.append(f"GitHub organisation {self.github_org!r}: letters, digits and '-'")
        if self.data_source not in SOURCES:
            found.append(f"data source {self.data_source!r}: one of {', '.join(SOURCES)}")
        elif self.data_source != "generator" and not self.data_path.strip():
            found.append(f"data source {self.data_source!r} needs a path or URL (--data-path)")
        elif self.data_source == "url" and not self.data_path.startswith(("http://", "https://")):
            found.append(f"data source 'url' needs an http(s) URL, not {self.data_path!r}")
        elif self.data_source == "url" and "url-source" not in self.keep:
            found.append("data source 'url' needs the url-source part")
        unknown = self.keep - set(OPTIONAL)
        if unknown:
            found.append(f"unknown parts {sorted(unknown)}; the optional parts are {', '.join(OPTIONAL)}")
        for part, needs in REQUIRES.items():
            if part in self.keep and needs not in self.keep:
                found.append(f"the {part} part needs the {needs} part")
        return found


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "project"


def _text_files(root: Path, owned: set[str] | None) -> Iterator[tuple[Path, str]]:
    """Text files under `root`; only those the template has (`owned`, relative paths) when given, so that on
    `copier update` the user's own files and everything git ignores are never touched."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        if owned is not None and path.relative_to(root).as_posix() not in owned:
            continue
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files carry no markers or names


def strip_blocks(text: str, drop: set[str], where: str = "") -> str:
    """Remove the lines of every part in `drop`; check that each block is closed and names a known part."""
    out: list[str] = []
    inside: list[str] = []  # open blocks, innermost last
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        found = MARKER.search(line)
        name, kind = found.groups() if found else ("", None)
        if found and name not in PARTS:
            raise ScaffoldError(f"{where}:{number}: unknown part {name!r} (known: {', '.join(PARTS)})")
        if kind == ":begin":
            inside.append(name)
        dropped = any(p in drop for p in inside) or (found is not None and kind is None and name in drop)
        if kind == ":end":
            if not inside or inside[-1] != name:
                raise ScaffoldError(f"{where}:{number}: part:{name}:end closes no open part:{name}:begin")
            inside.pop()
        if not dropped:
            out.append(line)
    if inside:
        raise ScaffoldError(f"{where}: part:{inside[-1]}:begin is never closed")
    return "".join(out)


def drop_parts(root: Path, drop: set[str], owned: set[str] | None = None) -> None:
    for part in sorted(drop):
        for rel in PARTS[part]:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for path, text in _text_files(root, owned):
        if "part:" in text:
            new = strip_blocks(text, drop, str(path.relative_to(root)))
            if new != text:
                path.write_text(new, encoding="utf-8")
    parents = {(root / rel).parent for part in drop for rel in PARTS[part]}
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        folder = parent
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # a part's now empty parent, e.g. infra/scripts/
            folder = folder.parent


def renames(a: Answers) -> list[tuple[re.Pattern[str], str]]:
    """Relay's names → the user's, everywhere they appear (checked by the generation test)."""
    slug = a.project_slug
    return [
        (re.compile(r"relay-returns"), a.model_name),
        (re.compile(r"@relay-org/"), f"@{a.github_org}/"),
        (re.compile(r"\brelay-(api|pipeline)\b"), rf"{slug}-\1"),
        (re.compile(r"relay-\$target"), f"{slug}-$target"),
        (re.compile(r"RELAY_IMAGE_PREFIX:-relay\}"), f"RELAY_IMAGE_PREFIX:-{slug}}}"),
        # In-cluster service names carry the namespace, which is the slug (kustomization.yaml).
        (re.compile(r"(\.|://)relay\.svc\b"), rf"\g<1>{slug}.svc"),
    ]


def _file_renames(a: Answers) -> dict[str, list[tuple[str, Callable[[re.Match[str]], str]]]]:
    """Names that only a particular file gives to the project (a function builds each replacement, so a
    backslash in a project name stays a backslash)."""
    slug, name = a.project_slug, a.project_name
    return {
        "pyproject.toml": [
            (r'(?m)^name = "relay"$', lambda m: f'name = "{slug}"'),
            (
                r'(?m)^description = ".*"$',
                lambda m: "description = " + json.dumps(f"{name}: an ML project made from the Relay template."),
            ),
        ],
        # The lock names the project itself; renamed there too, `uv sync --frozen` and `uv lock --check` agree.
        "uv.lock": [
            (
                r'(\[\[package\]\]\nname = )"relay"(\nversion = "[^"\n]+"\nsource = \{ editable = "\." \})',
                lambda m: f'{m.group(1)}"{slug}"{m.group(2)}',
            )
        ],
        "infra/compose.yaml": [(r"(?m)^name: relay$", lambda m: f"name: {slug}")],
        "infra/k8s/kustomization.yaml": [(r"(?m)^namespace: relay$", lambda m: f"namespace: {slug}")],
        "README.md": [(r"\A# Relay\n", lambda m: f"# {name}\n")],
    }


def rename(
    root: Path, a: Answers, owned: set[str] | None = None, skip: tuple[str, ...] = ("pipelines/template/scaffold.py",)
) -> None:
    rules, per_file = renames(a), _file_renames(a)
    for path, text in _text_files(root, owned):
        rel = path.relative_to(root).as_posix()
        if rel in skip:
            continue
        new = text
        for pattern, replacement in rules:
            new = pattern.sub(replacement, new)
        for pattern_text, build in per_file.get(rel, []):
            new = re.sub(pattern_text, build, new)
        if new != text:
            path.write_text(new, encoding="utf-8")


def readme_intro(root: Path, a: Answers) -> None:
    """The generated project's README opens with the project, not with Relay's pitch."""
    readme = root / "README.md"
    if not readme.is_file():
        return
    title, _, rest = readme.read_text(encoding="utf-8").partition("\n")
    opening = f"{a.project_name} is an ML project made from the Relay template"
    if rest.lstrip().startswith(opening):
        return  # already there (the task runs again on `copier update`)
    intro = (
        f"{opening} (the version is in "
        "`.copier-answers.yml`): a working loop of role-owned stages (ingest, validate, version, train, track, "
        "register, serve, monitor, retrain) that you replace stage by stage with your own. Who owns what is in "
        "[roles.md](roles.md); how to take in newer Relay versions is in "
        "[docs/new-project.md](docs/new-project.md).\n"
    )
    readme.write_text(f"{title}\n\n{intro}\n{rest.lstrip()}", encoding="utf-8")


def set_source(root: Path, a: Answers) -> None:
    """Point `ingest` in params.yaml at the first data source, keeping the file's comments."""
    params = root / "params.yaml"
    if a.data_source == "generator" or not params.is_file():
        return
    text = params.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(  source: )generator\b", rf"\g<1>{a.data_source}", text, count=1)
    text = re.sub(r"(?m)^(  path: )null\b", lambda m: m.group(1) + json.dumps(a.data_path), text, count=1)
    params.write_text(text, encoding="utf-8")


def regenerate_ownership(root: Path) -> None:
    """roles.md, docs/roles/ and CODEOWNERS are rendered from the registry, which lost the dropped parts.

    In a child process started in the project, so that it reads the project's registry as it is now."""
    code = """
from importlib.util import find_spec
from pathlib import Path
from pipelines.core import ownership_check
ownership_check.write(Path.cwd())
if find_spec("pipelines.teaching"):  # the role pages, unless the teaching part was declined
    from pipelines.teaching import pages
    pages.write(Path.cwd())
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ScaffoldError(f"could not regenerate roles.md and CODEOWNERS: {done.stderr.strip()[-800:]}")


def template_files(template: Path) -> set[str]:
    """The relative paths of the template's files (copier renders ours one to one)."""
    return {
        p.relative_to(template).as_posix()
        for p in template.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(template).parts
    }


def apply(root: Path, a: Answers, template: Path | None = None) -> None:
    found = a.problems()
    if found:
        raise ScaffoldError("; ".join(found))
    owned = template_files(template) if template is not None else None
    drop = (set(OPTIONAL) - a.keep) | {"template-only"}
    drop_parts(root, drop, owned)
    rename(root, a, owned)
    readme_intro(root, a)
    set_source(root, a)
    regenerate_ownership(root)


def git_init(root: Path, message: str) -> str:
    """A new repository with everything in its first commit; says what it did."""
    if (root / ".git").exists():
        return "git: already a repository, left as it is"
    git = shutil.which("git")
    if git is None:
        return "git: not installed; run `git init` yourself (copier update needs a repository)"
    subprocess.run([git, "init", "-q"], cwd=root, check=True)
    subprocess.run([git, "add", "-A"], cwd=root, check=True)
    done = subprocess.run([git, "commit", "-q", "-m", message], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"git: files staged but not committed ({done.stderr.strip().splitlines()[-1:]}); commit them yourself"
    return "git: new repository, first commit made"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.template.scaffold", description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=Path.cwd())
    p.add_argument("--template", type=Path, help="the template's files; only files it has are changed")
    p.add_argument("--project-name", default=Answers.project_name)
    p.add_argument("--project-slug", default=Answers.project_slug)
    p.add_argument("--model-name", default=Answers.model_name)
    p.add_argument("--github-org", default=Answers.github_org)
    p.add_argument("--data-source", default=Answers.data_source)
    p.add_argument("--data-path", default="")
    p.add_argument("--keep", default=",".join(OPTIONAL), help="optional parts to keep, comma-separated")
    p.add_argument("--git-init", metavar="MESSAGE", help="only make the first commit of a new repository")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.root.resolve()
    if args.git_init:
        print(git_init(root, args.git_init))
        return 0
    answers = Answers(
        project_name=args.project_name,
        project_slug=args.project_slug,
        model_name=args.model_name,
        github_org=args.github_org,
        data_source=args.data_source,
        data_path=args.data_path,
        keep=frozenset(p for p in args.keep.replace(" ", "").split(",") if p),
    )
    try:
        apply(root, answers, args.template)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

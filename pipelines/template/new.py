"""`relay new <dir>` (owner: MLOps engineer): a new project from Relay, through copier.

The same as `copier copy --trust <relay> <dir>` with the answers given as options; copier keeps the answers in
`.copier-answers.yml`, so `copier update` takes in later Relay versions (docs/new-project.md).
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.console import console, err, quiet_tools
from pipelines.template.scaffold import OPTIONAL, REQUIRES, SOURCES, Answers, slugify


def _template(given: str | None, root: Path) -> str:
    if given:
        return given
    if (root / "copier.yml").is_file():
        return str(root)
    answers = root / ".copier-answers.yml"
    if answers.is_file():
        import yaml

        src = (yaml.safe_load(answers.read_text()) or {}).get("_src_path")
        if src:
            return str(src)
    raise typer.BadParameter("no copier.yml here and no .copier-answers.yml naming a template", param_hint="--from")


def _dirty(template: str, *, untracked: bool = True) -> bool:
    if not (Path(template) / ".git").exists():
        return False
    status = ["git", "status", "--porcelain", f"--untracked-files={'normal' if untracked else 'no'}"]
    return bool(subprocess.run(status, cwd=template, capture_output=True, text=True, check=False).stdout.strip())


def _ref(template: str, given: str | None) -> str | None:
    """A local checkout is copied at its current commit: uncommitted changes stay out unless --ref HEAD."""
    if given or not Path(template).is_dir() or not (Path(template) / ".git").exists():
        return given
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=template, capture_output=True, text=True, check=False
    ).stdout.strip()
    if _dirty(template, untracked=False):
        err.print(f"note: {template} has uncommitted changes; they are not copied (--ref HEAD copies them)")
    return head or None


def command(  # noqa: PLR0913, PLR0917 (Typer maps each parameter to one option)
    dest: Annotated[Path, typer.Argument(help="Folder for the new project (must not exist, or be empty).")],
    name: Annotated[str | None, typer.Option(help="Project name (default: from the folder name).")] = None,
    slug: Annotated[
        str | None, typer.Option(help="Distribution, image and namespace name (default: from --name).")
    ] = None,
    model_name: Annotated[str | None, typer.Option(help="Registered model name (default: <slug>-model).")] = None,
    github_org: Annotated[str, typer.Option(help="GitHub organisation of the CODEOWNERS teams.")] = Answers.github_org,
    source: Annotated[str, typer.Option(help=f"First data source: {', '.join(SOURCES)}.")] = "generator",
    data_path: Annotated[str, typer.Option(help="File, folder or URL of that source.")] = "",
    teaching: Annotated[bool, typer.Option(help="Keep the handbook, relay tour and the role pages.")] = True,
    experiments: Annotated[bool, typer.Option(help="Keep relay train sweep and relay experiments compare.")] = True,
    lineage: Annotated[bool, typer.Option(help="Keep relay lineage (a prediction traced to its origins).")] = True,
    batch_scoring: Annotated[bool, typer.Option(help="Keep relay score (a file scored offline).")] = True,
    protocols: Annotated[bool, typer.Option(help="Keep the MLflow and Open Inference protocols.")] = True,
    fast_path: Annotated[bool, typer.Option(help="Keep the service's exact fast path for tree models.")] = True,
    evidently_ui: Annotated[bool, typer.Option(help="Keep relay monitor ui (Evidently's UI over every run).")] = True,
    url_source: Annotated[bool, typer.Option(help="Keep the URL source (files downloaded over HTTP).")] = True,
    pictures: Annotated[bool, typer.Option(help="Keep the evaluation's PNG plots.")] = True,
    audit: Annotated[bool, typer.Option(help="Keep make audit (pip-audit on uv.lock in CI).")] = True,
    prefect_server: Annotated[bool, typer.Option(help="Keep relay prefect up/down and relay deploy.")] = True,
    containers: Annotated[bool, typer.Option(help="Keep the images and the compose stack.")] = True,
    kubernetes: Annotated[bool, typer.Option(help="Keep the Kubernetes manifests.")] = True,
    template: Annotated[str | None, typer.Option("--from", help="Template (default: this checkout).")] = None,
    ref: Annotated[str | None, typer.Option(help="Template version: a tag, a commit, or HEAD with changes.")] = None,
) -> None:
    """Start a new project from Relay: your names, the parts you keep, fresh git/DVC/MLflow state."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise typer.BadParameter(f"{dest} exists and is not an empty folder; nothing was written", param_hint="DEST")
    project = name or dest.resolve().name.replace("-", " ").replace("_", " ").title()
    project_slug = slug or slugify(project)
    keep = {
        "teaching": teaching,
        "experiments": experiments,
        "lineage": lineage,
        "batch-scoring": batch_scoring,
        "protocols": protocols,
        "fast-path": fast_path,
        "evidently-ui": evidently_ui,
        "url-source": url_source,
        "pictures": pictures,
        "audit": audit,
        "prefect-server": prefect_server,
        "containers": containers,
        "kubernetes": kubernetes,
    }
    for part, needs in REQUIRES.items():
        if keep[part] and not keep[needs]:
            keep[part] = False
            err.print(f"note: leaving out {part} too: it needs the {needs} part")
    answers = Answers(
        project_name=project,
        project_slug=project_slug,
        model_name=model_name or f"{project_slug}-model",
        github_org=github_org,
        data_source=source,
        data_path=data_path,
        keep=frozenset(p for p in OPTIONAL if keep[p]),
    )
    problems = answers.problems()
    if problems:
        raise typer.BadParameter("; ".join(problems))
    quiet_tools()
    from copier import run_copy
    from copier.errors import CopierError, DirtyLocalWarning

    from pipelines.core.settings import find_root

    src = _template(template, find_root())
    revision = _ref(src, ref)
    if revision == "HEAD" and _dirty(src):
        err.print(
            f"note: copying {src} with its uncommitted changes; copier records them as a commit that exists only "
            "in its scratch copy, so `copier update` cannot start from it: commit first to keep updates possible"
        )
    with warnings.catch_warnings():
        # copier warns about a dirty local template with a traceback-like line; the note above says it plainly.
        warnings.simplefilter("ignore", DirtyLocalWarning)
        try:
            run_copy(
                src,
                dest,
                data={
                    "project_name": answers.project_name,
                    "project_slug": answers.project_slug,
                    "model_name": answers.model_name,
                    "github_org": answers.github_org,
                    "data_source": answers.data_source,
                    "data_path": answers.data_path,
                    "teaching": keep["teaching"],
                    "experiments": keep["experiments"],
                    "lineage": keep["lineage"],
                    "batch_scoring": keep["batch-scoring"],
                    "protocols": keep["protocols"],
                    "fast_path": keep["fast-path"],
                    "evidently_ui": keep["evidently-ui"],
                    "url_source": keep["url-source"],
                    "pictures": keep["pictures"],
                    "audit": keep["audit"],
                    "prefect_server": keep["prefect-server"],
                    "containers": keep["containers"],
                    "kubernetes": keep["kubernetes"],
                },
                vcs_ref=revision,
                defaults=True,
                unsafe=True,  # the template's task is Relay's own scaffold (pipelines/template/scaffold.py)
                quiet=True,
            )
        except CopierError as exc:
            # copier removes a folder it created; an empty one it was given held nothing of the user's, so it
            # is emptied again rather than left half-written.
            if dest.is_dir():
                for child in dest.iterdir():
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            raise RuntimeError(f"copier could not make the project: {exc}") from None
    dropped = [p for p in OPTIONAL if not keep[p]]
    console.print(
        f"[green]{answers.project_name}[/] is in {dest}: model {answers.model_name!r}, "
        f"parts kept: {', '.join(p for p in OPTIONAL if keep[p]) or 'none'}"
        + (f"; left out: {', '.join(dropped)}" if dropped else "")
    )
    then = "make demo" if keep["teaching"] else "the loop by hand (README: The loop, one command at a time)"
    console.print(f"next: cd {dest} && make test, then {then}")

"""`relay clean`: remove what runs made in this workspace, by the paths the settings name.

Removed: landed, quarantined, validated and versioned data, the model, metrics, plots and reports, the
embedded stores (MLflow, prediction log, monitoring history), logs and `dvc.lock`. Kept: DVC's cache and
remote (so `relay data checkout` can bring any recorded data version back), the code and the settings, and
every store the settings point elsewhere (PostgreSQL, S3, an MLflow server): those are never touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.console import console, friendly_errors

if TYPE_CHECKING:
    from pipelines.core.settings import Settings


def _sqlite_folder(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///")).parent


def clean_targets(s: Settings) -> list[Path]:
    """The paths `relay clean` removes that exist now, in a fixed order."""
    paths = [
        s.raw_dir,
        s.quarantine_dir,
        s.validated_dir,
        s.dataset_dir,
        s.model_dir,
        s.metrics_dir,
        s.plots_dir,
        s.reports_dir,
        s.logs_dir,
        s.root / "dvc.lock",
    ]
    if s.uses_embedded_mlflow:
        paths.append(s.local_dir / "mlflow")
    if not s.prediction_log_url:
        paths.append(_sqlite_folder(s.prediction_log))
    if not s.monitoring_url:
        paths.append(_sqlite_folder(s.monitoring_store))
    return [p for p in paths if p.exists() or p.is_symlink()]


@friendly_errors
def command(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False,
) -> None:
    """Remove what runs made here (data, model, metrics, reports, embedded stores); DVC's cache stays."""
    from pipelines.core.settings import get_settings

    s = get_settings()
    if remove_after_asking(clean_targets(s), s.root, yes=yes, nothing="nothing to clean"):
        console.print("DVC's cache keeps every recorded data version")


def remove_after_asking(targets: list[Path], root: Path, *, yes: bool, nothing: str) -> bool:
    """List `targets`, ask (unless `yes`), remove them; False when there was nothing to remove. A "no" exits 1."""
    if not targets:
        console.print(nothing)
        return False
    for path in targets:
        console.print(f"  {path.relative_to(root) if path.is_relative_to(root) else path}")
    if not yes and not typer.confirm(f"Remove these {len(targets)} paths?", default=False):
        raise typer.Exit(1)
    for path in targets:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    console.print(f"removed {len(targets)} paths")
    return True

"""What users read as stages run: one line per stage, naming its owner. Shared by the CLI and the flows."""

from __future__ import annotations

from rich.console import Console

from pipelines.core.ownership import get_stage

console = Console(highlight=False)


def banner(stage_name: str, detail: str = "") -> None:
    s = get_stage(stage_name)
    console.print(f"[bold cyan]▶ {s.name:<9}[/] [magenta]{s.owner.label:<15}[/] {detail}")


def note(text: str) -> None:
    console.print(f"  [dim]{text}[/]")

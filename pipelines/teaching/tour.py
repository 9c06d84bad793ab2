"""`relay tour`: the loop explained in the terminal, stage by stage, with the real artifacts of the last run.

The text comes from the ownership registry, the team data and the handbook (`pipelines/core/ownership.py`,
`pipelines/core/team.yaml`, `pipelines/teaching/handbook.yaml`); the evidence comes from what the last
`make demo` (or your own runs) left in the workspace: the data version, the MLflow run, the registered
versions, the OpenAPI schema, the drift decision. Nothing here changes any store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from pipelines.cli.console import console, friendly_errors, quiet_tools
from pipelines.core import artifacts
from pipelines.core.ownership import STAGES, Role, Stage, get_stage
from pipelines.core.params import TASK_METRICS

# Loaded only when the tour runs, not for `relay --help` or any other command: settings load pydantic and the
# contract, and the team and handbook are YAML files parsed on import (about 60 ms together).
if TYPE_CHECKING:
    from pipelines.core.settings import Settings
    from pipelines.core.team import AnyRole, Handoff, OtherRole
    from pipelines.teaching.handbook import RoleDay

NOT_YET = "nothing yet: run `make demo` (or the commands above) first"


class _Evidence:
    """Reads each hand-off's real artifact once; a failure becomes a line of text, never a crash."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, read: Callable[[], Any]) -> Any:
        if key not in self._cache:
            try:
                self._cache[key] = read()
            except Exception as exc:
                self._cache[key] = exc
        return self._cache[key]

    def _has_mlflow(self) -> bool:
        # MLflow creates a SQLite store on first use; a tour must not leave an empty one behind.
        uri = self.s.tracking_uri
        if uri.startswith("sqlite:///"):
            return Path(uri.removeprefix("sqlite:///").split("?")[0]).is_file()
        return True

    def data_version(self) -> Any:
        from pipelines.data import catalog

        def read() -> Any:
            versions = catalog.read(self.s.versions_catalog)
            return versions[-1] if versions else None

        return self._once("data_version", read)

    def versions(self) -> Any:
        def read() -> Any:
            if not self._has_mlflow():
                return []
            quiet_tools()
            from pipelines.release.rollback import status

            return status(self.s.tracking_uri, self.s.model_name)

        return self._once("versions", read)

    def champion(self) -> Any:
        rows = self.versions()
        if isinstance(rows, Exception):
            return rows
        return next((r for r in rows if "champion" in r.aliases), None)

    def decision(self) -> Any:
        def read() -> Any:
            from pipelines.core.handoffs import DECISION_FILE, MonitorDecision

            folder = self.s.reports_dir / "monitoring"
            found = sorted(folder.glob(f"*/{DECISION_FILE}")) if folder.is_dir() else []
            return (found[-1], MonitorDecision.read(found[-1])) if found else None

        return self._once("decision", read)

    def openapi(self) -> Any:
        def read() -> Any:
            from services.api.main import create_app

            return create_app(self.s).openapi()

        return self._once("openapi", read)

    def lines(self, stage: str) -> list[str]:
        """What the last run left for `stage`, as plain text (file contents are never read as markup)."""
        try:
            return [escape(line) for line in self._lines(stage)]
        except Exception as exc:  # a damaged artifact is reported, and the tour goes on
            return [escape(f"could not read it: {type(exc).__name__}: {exc}")]

    def _lines(self, stage: str) -> list[str]:
        # One method per stage: what that stage's last run left, in a sentence or two.
        read: Callable[[], list[str]] = getattr(self, f"_{stage}")
        return read()

    def _rel(self, path: Path) -> str:
        return _relative(self.s.root)(path)

    def _ingest(self) -> list[str]:
        s = self.s
        raw = sorted(s.raw_dir.glob("*.parquet")) if s.raw_dir.is_dir() else []
        if not raw:
            return [NOT_YET]
        quarantined = len(list(s.quarantine_dir.glob("*"))) if s.quarantine_dir.is_dir() else 0
        names = ", ".join(p.stem for p in raw[:3]) + (f" … {raw[-1].stem}" if len(raw) > 3 else "")
        return [f"{len(raw)} landed batches in {self._rel(s.raw_dir)}/: {names}", f"{quarantined} quarantine files"]

    def _validate(self) -> list[str]:
        done = sorted(self.s.validated_dir.glob("*.parquet")) if self.s.validated_dir.is_dir() else []
        return [f"{len(done)} validated batches in {self._rel(self.s.validated_dir)}/"] if done else [NOT_YET]

    def _version(self) -> list[str]:
        v = self.data_version()
        if isinstance(v, Exception):
            return [f"could not read {self._rel(self.s.versions_catalog)}: {v}"]
        if v is None:
            return [NOT_YET]
        return [
            f"data version {v.version} ({v.created_at}): {v.train_rows:,} train / "
            f"{v.holdout_rows:,} holdout rows from {len(v.batches)} batches",
            "`relay data versions` lists every version; `relay data checkout <md5>` restores one",
        ]

    def _holdout(self) -> tuple[Path, dict[str, Any] | None]:
        holdout = self.s.metrics_dir / artifacts.HOLDOUT_METRICS
        return holdout, json.loads(holdout.read_text()) if holdout.is_file() else None

    def _train(self) -> list[str]:
        _, m = self._holdout()
        if m is None:
            return [NOT_YET]
        model = self.s.model_dir / artifacts.MODEL
        size = f"{model.stat().st_size / 1e6:.1f} MB" if model.is_file() else "missing"
        info = self.s.model_dir / artifacts.MODEL_INFO
        facts = json.loads(info.read_text()) if info.is_file() else {}
        kind, task = facts.get("model_kind", "?"), facts.get("task", "binary")
        decided = f", decision threshold {m['threshold']}" if "threshold" in m else ""
        return [f"{self._rel(model)} ({size}), a {kind} model for a {task} target{decided}"]

    def _evaluate(self) -> list[str]:
        holdout, m = self._holdout()
        if m is None:
            return [NOT_YET]
        shown = ", ".join(f"{k} {m[k]}" for k in TASK_METRICS[self.s.contract.task][:4] if k in m)
        return [
            f"{self._rel(holdout)}: {shown}, on {_count(m.get('rows'))} holdout rows",
            "`dvc metrics show` and `dvc plots show` read the same files",
        ]

    # part:experiments:begin
    def _sweep(self) -> list[str]:
        return ["optional: `relay train sweep --trials 4` adds one parent run with a nested run per trial"]

    # part:experiments:end

    def _track(self) -> list[str]:
        s, champion = self.s, self.champion()
        if isinstance(champion, Exception):
            return [f"could not read MLflow at {s.tracking_uri}: {champion}"]
        if champion is None:
            return [NOT_YET]
        return [
            f"MLflow run {champion.run_id} in experiment {s.experiment_name!r} at {s.tracking_uri}",
            f"tags: relay.data_version={champion.data_version[:12]}…, relay.trigger={champion.trigger}",
        ]

    def _register(self) -> list[str]:
        s, rows = self.s, self.versions()
        if isinstance(rows, Exception):
            return [f"could not read the registry at {s.tracking_uri}: {rows}"]
        if not rows:
            return [NOT_YET]
        out = []
        for r in rows:
            alias = f" @{', @'.join(r.aliases)}" if r.aliases else ""
            metric = s.params.promote.metric
            score = r.metrics.get(metric, "?")
            out.append(f"{s.model_name} v{r.version}{alias}: {metric} {score}, gate {r.gate or '?'}, {r.reason}")
        return out

    def _serve(self) -> list[str]:
        s, schema = self.s, self.openapi()
        if isinstance(schema, Exception):
            return [f"could not build the OpenAPI schema: {schema}"]
        paths = ", ".join(f"{m.upper()} {p}" for p, ops in schema["paths"].items() for m in ops)
        champion = self.champion()
        served = f"models:/{s.model_name}@champion"
        if champion is not None and not isinstance(champion, Exception):
            served += f" (now v{champion.version})"
        return [
            f"OpenAPI {schema['info']['title']} {schema['info']['version']}: {paths}",
            f"serves {served}; `make serve`, then http://{s.api_host}:{s.api_port}/docs",
        ]

    def _monitor(self) -> list[str]:
        decision = self.decision()
        if isinstance(decision, Exception) or decision is None:
            return [f"could not read the last decision: {decision}"] if decision else [NOT_YET]
        path, d = decision
        drift = f"drift in {', '.join(d.drifted_features) or 'the prediction'}" if d.drift else "no drift"
        lines = [
            f"last decision {self._rel(path)} ({d.created_at}): {drift}, share {d.drift_share} "
            f"vs threshold {d.drift_share_threshold}, model v{d.model_version}",
        ]
        q = d.model_quality
        if q is not None and q.status == "judged":
            lines.append(
                f"model quality on {q.labelled_rows} new labels: {q.metric} {q.value} "
                f"(limit {q.limit}) → {'ok' if q.ok else 'dropped'}"
            )
        return lines

    def _retrain(self) -> list[str]:
        decision = self.decision()
        if isinstance(decision, Exception) or decision is None:
            return [f"could not read the last decision: {decision}"] if decision else [NOT_YET]
        path, d = decision
        r = d.retraining
        if r is None:
            return [f"the last decision ({self._rel(path)}) was not acted on (the monitor ran with --no-retrain)"]
        asked = "asked for retraining" if r.retrain else "no retraining"
        return [f"{asked} ({r.reason}): {r.outcome or 'nothing run'}"]


def _count(value: object) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)


def _relative(root: Path) -> Callable[[Path], str]:
    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(root))
        except ValueError:
            return str(p)

    return rel


def _grid(rows: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _code(items: tuple[str, ...]) -> str:
    return "\n".join(escape(i) for i in items)


def _handoff_line(h: Handoff) -> str:
    takers = ", ".join(t.label for t in h.takers)
    return f"[bold]{h.name}[/] → {takers}; broken, it fails {h.test}"


def _stage_panel(index: int, spec: Stage, evidence: _Evidence) -> Panel:
    from pipelines.core import team
    from pipelines.teaching.handbook import TOUR

    tour = TOUR[spec.name]
    rows = [
        ("owner", f"{spec.owner.label} (`{spec.module}`)"),
        ("takes", spec.takes),
        ("hands over", spec.hands_over),
        ("files", _code(tour.files)),
        ("commands", _code(tour.commands)),
        ("last run", "\n".join(evidence.lines(spec.name))),
        ("look at", tour.look),
    ]
    rows += [("hand-off", _handoff_line(h)) for h in team.load().handoffs if h.from_stage == spec.name]
    return Panel(_grid(rows), title=f"{index}/{len(STAGES)}  [bold]{spec.name}[/]", title_align="left")


def _role_day(day: RoleDay, evidence: _Evidence) -> None:
    from pipelines.teaching.handbook import is_command

    console.rule(f"[bold]{day.role.label}[/]: a day in Relay")
    console.print(f"Mission: {day.mission}.\n")
    raci = _raci(day.role)
    rows = [
        ("owns", ", ".join(day.stages)),
        ("RACI", raci),
        ("files", _code(day.files)),
        ("commands", _code(day.commands)),
        (
            "receives",
            "\n".join(f"{h.name} from the {h.giver.label}" for h in day.receives) or "the business's own data",
        ),
        ("hands over", "\n".join(_handoff_line(h) for h in day.gives)),
        ("checks", _code(day.checks)),
    ]
    console.print(_grid(rows))
    for name in day.stages:
        console.print(f"\n[bold]{name}[/], from your last run:")
        for line in evidence.lines(name):
            console.print(f"  • {line}")
    console.print("\n[bold]Exercises[/]")
    for i, ex in enumerate(day.exercises, 1):
        console.print(f"{i}. [bold]{ex.title}[/]")
        for step in ex.steps:
            console.print(f"     $ {escape(step)}" if is_command(step) else f"     {step}")
        console.print(f"   You should see: {ex.expect}.")
    console.print(f"\nMore: docs/roles/{day.role.value}.md")


def _raci(role: AnyRole) -> str:
    from pipelines.core import team

    raci = team.load().raci
    return ", ".join(f"{raci[s.name][role]} {s.name}" for s in STAGES if role in raci.get(s.name, {}))


def _other_role(role: OtherRole) -> None:
    console.rule(f"[bold]{role.label}[/]")
    console.print(_grid([("does", role.does), ("meets the loop", role.meets_the_loop), ("RACI", _raci(role))]))
    console.print("\nOwns no stage in the code; see roles.md for who they work with.")


def _parse_role(value: str) -> AnyRole:
    from pipelines.core import team

    try:
        return team.load().role(value)
    except team.TeamFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from None


def command(
    role: Annotated[
        str | None, typer.Option(help="Show one role's day, e.g. data-scientist (all roles: see roles.md).")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="Show one stage, e.g. register.")] = None,
) -> None:
    """Walk the loop stage by stage: owner, files, commands, hand-offs and the last run's real artifacts."""
    chosen_role = _parse_role(role) if role is not None else None
    if stage is not None:
        try:
            get_stage(stage)
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--stage") from None
    _tour(chosen_role, stage)


@friendly_errors
def _tour(role: AnyRole | None, stage: str | None) -> None:
    from pipelines.core.settings import get_settings
    from pipelines.core.team import OtherRole
    from pipelines.teaching.handbook import DAYS

    evidence = _Evidence(get_settings())
    if isinstance(role, Role):
        _role_day(DAYS[role], evidence)
        return
    if isinstance(role, OtherRole):
        _other_role(role)
        return
    if stage is None:
        console.print(
            "[bold]The Relay loop[/]: each stage has one owner; each arrow between owners is a contract "
            "with a test.\n" + " → ".join(f"{s.name} ({s.owner.label})" for s in STAGES if s.name != "sweep") + "\n"
        )
    for i, spec in enumerate(STAGES, 1):
        if stage is None or spec.name == stage:
            console.print(_stage_panel(i, spec, evidence))
    if stage is None:
        console.print(
            "Next: `relay tour --role <role>` for one role's day and exercises "
            f"({', '.join(r.value for r in Role)}); roles.md for the RACI matrix."
        )

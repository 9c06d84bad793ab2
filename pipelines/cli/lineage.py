"""`relay lineage <request-id>`: where did this prediction come from?

Follows one logged prediction back through every hand-off of the loop, each link with the stage and role
that produced it: the prediction (serve, ML engineer) → the registered version and its gate decision
(register, ML engineer) → the MLflow run with its metrics (track, data scientist) → the DVC data version
it was trained on, with the command that restores it (version, data engineer) → the git commit of the code.
It crosses all four owners, so it lives with the other wrappers (CLI and flows), not in one owner's stage.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.cli.console import console, friendly_errors, quiet_tools
from pipelines.core.ownership import get_stage
from pipelines.core.params import TASK_METRICS

if TYPE_CHECKING:  # pydantic loads only when a trace runs, not for `relay --help`
    from pipelines.core.handoffs import LineageChain, LineageLink


def _link(stage: str, what: str, facts: dict[str, Any], restore: str = "") -> LineageLink:
    from pipelines.core.handoffs import LineageLink

    return LineageLink(stage=stage, owner=get_stage(stage).owner.label, what=what, facts=facts, restore=restore)


def trace(request_id: str) -> LineageChain:
    """The chain of links for one request id, newest first."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.core.handoffs import LineageChain, LineageLink
    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.prediction_log import read_request
    from pipelines.core.settings import get_settings
    from pipelines.data import catalog

    s = get_settings()
    rows = read_request(s.prediction_log, request_id)
    if rows.empty:
        raise KeyError(
            f"no prediction with request id {request_id!r} in {s.prediction_log} (the X-Request-ID response header)"
        )
    first = rows.to_dict("records")[0]  # Python values, not numpy's, for the JSON output
    version = str(first["model_version"])
    served = {
        "time": str(first["ts"]),
        "model": f"{s.model_name} version {version}",
        "records in the request": len(rows),
        "first record's probability": round(float(first["prediction"]), 6),
        "flagged": bool(first["flagged"]),
        "latency_ms": round(float(first["latency_ms"]), 3),
        "features": {k: first[k] for k in s.contract.feature_columns()},
    }
    links = [_link("serve", f"prediction {request_id}", served)]
    configure_mlflow(s.tracking_uri)
    client = MlflowClient()
    try:
        mv = client.get_model_version(s.model_name, version)
    except MlflowException:
        raise KeyError(f"{s.model_name} version {version} is not in the registry at {s.tracking_uri}") from None
    t = mv.tags
    aliases = [a for a, v in (client.get_registered_model(s.model_name).aliases or {}).items() if str(v) == version]
    registered = {
        "aliases now": ", ".join(sorted(aliases)) or "-",
        "gate": f"{t.get('relay.gate', '?')}: {t.get('relay.gate_reason', '')}",
        "promoted": f"{t.get('relay.promoted_at', '-')} by {t.get('relay.promoted_by', '-')}",
        "rolled back": t.get("relay.rolled_back_at", "-"),
    }
    rollback = f"relay model rollback --to {version}" if "champion" not in aliases else ""
    links.append(_link("register", f"registered model {s.model_name} version {version}", registered, rollback))
    run = client.get_run(str(mv.run_id))
    rt = run.data.tags
    metrics = {k: round(v, 4) for k, v in sorted(run.data.metrics.items()) if not k.startswith("validation_")}
    tracked = {
        "experiment": run.info.experiment_id,
        "trigger": rt.get("relay.trigger", "?"),
        "task": rt.get("relay.task", "binary"),
        "threshold": rt.get("relay.threshold", "-"),
        "holdout metrics": {k: metrics[k] for k in TASK_METRICS[s.contract.task] if k in metrics},
        "recorded by": f"{rt.get('relay.owner', '?')} (stage {rt.get('relay.stage', '?')})",
    }
    links.append(_link("track", f"MLflow run {run.info.run_id} ({run.info.run_name})", tracked))
    data_version = rt.get("relay.data_version", "")
    restore = f"relay data checkout {data_version[:10]}"
    link = _link("version", f"data version {data_version[:10]}", {"md5": data_version}, restore)
    try:
        dv = catalog.find(s.versions_catalog, data_version)
        link.facts["rows"] = f"{dv.rows} ({dv.train_rows} train / {dv.holdout_rows} holdout)"
        link.facts["batches"] = ", ".join(dv.batches)
        link.facts["first seen"] = dv.created_at
    except (KeyError, ValueError):
        link.gaps.append(f"not in {s.versions_catalog.name}; `dvc checkout` with the dvc.lock of the commit below")
    links.append(link)
    commit = rt.get("relay.git_commit", "unknown")
    code = LineageLink(stage="code", owner="-", what=f"git commit {commit}", facts={"dirty": commit.endswith("-dirty")})
    code.restore = f"git checkout {commit.removesuffix('-dirty')[:12]}" if commit != "unknown" else ""
    if commit.endswith("-dirty"):
        code.gaps.append("trained with uncommitted changes: the commit alone does not rebuild it")
    links.append(code)
    return LineageChain(request_id=request_id, links=links)


def lineage(
    request_id: Annotated[str, typer.Argument(help="The request id (the X-Request-ID header of the response).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Trace one prediction back to its model, run, data version and code, naming who owns each link."""
    quiet_tools()
    chain = trace(request_id)
    if as_json:
        console.print_json(json.dumps([link.model_dump() for link in chain.links], default=str))
        return
    for link in chain.links:
        owner = f"{link.stage} · {link.owner}" if link.owner != "-" else link.stage
        console.print(f"[bold]{link.what}[/]  [dim]({owner})[/]")
        for key, value in link.facts.items():
            shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
            console.print(f"    {key}: {shown}", overflow="fold")
        if link.restore:
            console.print(f"    [green]restore:[/] {link.restore}")
        for gap in link.gaps:
            console.print(f"    [yellow]note:[/] {gap}")


command = friendly_errors(lineage)

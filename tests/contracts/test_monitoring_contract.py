"""Monitoring contract (MLOps engineer → data scientist): the monitor's decision and what retraining makes of it.

The decision the monitor writes (`decision.json`: `pipelines/monitoring/drift.py`, completed by the monitoring
flow) has every key the retraining rule (`pipelines/monitoring/retrain.py`) and the retraining flow read, and the
retraining request quotes it: the reason names the drifted features, and the training run it starts carries that
reason as `relay.trigger_reason`, which is how the data scientist learns why a model was retrained.

The fast tests read the code: the keys the rule and the retraining flow look up against the keys the monitor and
its flow write (so renaming `drifted_features` in drift.py fails `make test-fast`). The integration tests run the
monitor for real on a drifted week in a copy of a trained workspace and follow its decision to the MLflow run.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from tests.contracts.handoff import guard
from tests.helpers import REPO

MONITORING = guard("monitoring contract")
WRITERS = ("pipelines.monitoring.drift", "pipelines.flows.monitoring")
READERS = {"pipelines.monitoring.retrain": "the retraining rule", "pipelines.flows.retraining": "the retraining flow"}


# Reading the code ------------------------------------------------------------------------------------------------


def _path(module: str) -> Path:
    return REPO / (module.replace(".", "/") + ".py")


@dataclass
class Sources:
    """Parsed modules, read from the checkout on first use; a test may put a changed tree in their place."""

    trees: dict[str, ast.Module] = field(default_factory=dict)

    def __getitem__(self, module: str) -> ast.Module:
        if module not in self.trees:
            self.trees[module] = ast.parse(_path(module).read_text())
        return self.trees[module]

    def functions(self, module: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        return {n.name: n for n in ast.walk(self[module]) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}

    def imported(self, module: str, name: str) -> str | None:
        """The Relay module that `name` stands for in `module` (`from pipelines.monitoring import quality`)."""
        for node in ast.walk(self[module]):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if (alias.asname or alias.name) == name and _path(target).is_file():
                        return target
        return None


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dict_paths(node: ast.Dict, prefix: str = "") -> set[str]:
    """The keys of a dict literal, nested literals as dotted paths."""
    found = set()
    for key, value in zip(node.keys, node.values, strict=True):
        if (name := _text(key)) is not None:
            found.add(prefix + name)
            if isinstance(value, ast.Dict):
                found |= _dict_paths(value, f"{prefix}{name}.")
    return found


def _returned_keys(sources: Sources, module: str, function: str, depth: int = 2) -> set[str]:
    """Keys a function's results may carry: those of every dict literal in it, and in the Relay functions it calls
    (`depth` calls deep). Generous on purpose: it only has to show that a key is written somewhere."""
    fn = sources.functions(module).get(function)
    if fn is None:
        return set()
    found: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Dict):
            found |= {k for k in map(_text, node.keys) if k is not None}
        elif depth and isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in sources.functions(module):
                found |= _returned_keys(sources, module, node.func.id, depth - 1)
            elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                target = sources.imported(module, node.func.value.id)
                if target:
                    found |= _returned_keys(sources, target, node.func.attr, depth - 1)
    return found


def _is_decision(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "decision"


def decision_writes(sources: Sources) -> set[str]:
    """Every key path the monitor's decision is written with: drift.py's literal, the keys the monitoring flow
    adds (with what the functions it calls return), and the keys of any `{**decision, ...}` it builds."""
    drift, flow = WRITERS
    written: set[str] = set()
    for node in ast.walk(sources.functions(drift)["run"]):
        if isinstance(node, ast.Assign) and any(map(_is_decision, node.targets)) and isinstance(node.value, ast.Dict):
            written |= _dict_paths(node.value)
    for node in ast.walk(sources[flow]):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and _is_decision(target.value) and (key := _text(target.slice)):
                    written.add(key)
                    call = node.value
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                        written |= {f"{key}.{k}" for k in _returned_keys(sources, flow, call.func.id)}
        elif isinstance(node, ast.Dict) and any(
            k is None and _is_decision(v) for k, v in zip(node.keys, node.values, strict=True)
        ):
            written |= _dict_paths(node)
    return written


def _lookup(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The decision key path `node` looks up: `d["k"]`, `d.get("k", ...)`, either one `or` a default."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return _lookup(node.values[0], aliases)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in aliases:
        key = _text(node.slice)
        return None if key is None else aliases[node.value.id] + key
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in aliases
        and node.args
        and (key := _text(node.args[0])) is not None
    ):
        return aliases[node.func.value.id] + key
    return None


def decision_reads(sources: Sources, module: str) -> set[str]:
    """Every key path the functions of `module` that take a `decision` look up in it, through local names too
    (`quality = decision.get("model_quality") or {}`, then `quality["roc_auc"]` reads `model_quality.roc_auc`)."""
    reads: set[str] = set()
    for fn in sources.functions(module).values():
        if "decision" not in {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}:
            continue
        aliases = {"decision": ""}
        grew = True
        while grew:
            grew = False
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    name, looked_up = node.targets[0].id, _lookup(node.value, aliases)
                    if looked_up is not None and name not in aliases:
                        aliases[name], grew = looked_up + ".", True
        for node in ast.walk(fn):
            if (looked_up := _lookup(node, aliases)) is not None:
                reads.add(looked_up)
            elif (
                isinstance(node, ast.Compare)
                and (key := _text(node.left)) is not None
                and isinstance(node.ops[0], ast.In | ast.NotIn)
                and isinstance(node.comparators[0], ast.Name)
                and node.comparators[0].id in aliases
            ):
                reads.add(aliases[node.comparators[0].id] + key)
    return reads


def unwritten_reads(sources: Sources) -> list[str]:
    written = decision_writes(sources)
    where = ", ".join(str(_path(m).relative_to(REPO)) for m in WRITERS)
    return [
        f"{reader} ({_path(module).relative_to(REPO)}) reads {key!r}, which the monitor's decision ({where}) never has"
        for module, reader in READERS.items()
        for key in sorted(decision_reads(sources, module) - written)
    ]


def test_the_code_writes_every_decision_key_that_retraining_reads() -> None:
    sources = Sources()
    # The reading of the code must see something, or the check below would pass on nothing.
    rule = decision_reads(sources, "pipelines.monitoring.retrain")
    assert rule and any("." in k for k in rule), f"found only {sorted(rule)} read in retrain.py"
    assert len(decision_writes(sources)) > len(rule), "found almost nothing written in drift.py"
    MONITORING.no_problems(unwritten_reads(sources))


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.copy_location(ast.Constant(self.new), node) if node.value == self.old else node


@pytest.mark.parametrize("key", sorted(decision_reads(Sources(), "pipelines.monitoring.retrain")))
def test_renaming_a_key_the_monitor_writes_is_caught(key: str) -> None:
    """The handbook's exercise on parsed copies of the code: rename, on the monitor's side only, a key the
    retraining rule reads (a search and replace of the name in drift.py, quality.py and the monitoring flow)."""
    sources = Sources()
    decision_writes(sources)  # loads every module the monitor's side writes the decision from
    name = key.rsplit(".", 1)[-1]
    for module in [m for m in sources.trees if m not in READERS]:
        sources.trees[module] = _Rename(name, f"{name}_renamed").visit(copy.deepcopy(sources.trees[module]))
    with MONITORING.breaks(match=rf"the retraining rule \(pipelines/monitoring/retrain.py\) reads '{key}'"):
        MONITORING.no_problems(unwritten_reads(sources))


# Running the monitor and following its decision -------------------------------------------------------------------

WEEK, ROWS, DRIFT = 4, 2000, ("new_brand", "promotion")


@pytest.fixture(scope="module")
def monitored(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """In a copy of the trained workspace: a drifted week served and logged, its labels landed, then the
    monitoring flow's own steps; returns the decision as the retraining flow reads it back."""
    from pipelines.core.prediction_log import PredictionLogWriter, now_utc
    from pipelines.core.settings import Settings
    from pipelines.data import ingest
    from pipelines.data.generator import batch_id, generate_batch
    from pipelines.flows import monitoring as flow
    from pipelines.flows.retraining import newest_decision

    tmp = tmp_path_factory.mktemp("monitored")
    ws = tmp / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    s = Settings(root=ws, prediction_log_url=f"sqlite:///{tmp}/log.db", monitoring_url=f"sqlite:///{tmp}/history.db")
    champion = flow.load_reference.fn(s)
    features = generate_batch(WEEK, ROWS, 42, DRIFT, with_label=False)[s.contract.feature_columns()]
    proba = champion["model"].predict_proba(features)[:, 1]
    writer = PredictionLogWriter(s.prediction_log, s.contract)
    writer.log_predictions(
        cast(list[dict[str, Any]], features.astype(object).where(features.notna(), None).to_dict(orient="records")),
        proba.tolist(),
        (proba >= champion["threshold"]).tolist(),
        request_id=f"week-{WEEK}",
        ts=now_utc(),
        model_version=champion["version"],
        latency_ms=1.0,
    )
    assert writer.close() == 0
    ingest.run(batch_id(WEEK), ingest.generator_chunks(WEEK, ROWS, 42, DRIFT), s.contract, s.raw_dir, s.quarantine_dir)
    # The body of monitoring_flow, step by step (the flow itself would also start Prefect, and may retrain).
    out_dir = flow._run_folder(s.reports_dir)
    decision = flow.drift_report.fn(s, champion, out_dir)
    decision["model_quality"] = flow.model_quality.fn(s, champion, out_dir)
    flow.record_history.fn(s, decision)
    handed = newest_decision(s)
    # The scenario, not the contract: a drifted week with its labels must be judged on both counts.
    assert handed["drift"] is True, f"the drifted week did not drift: {handed['drifted_features']}"
    assert handed["model_quality"]["status"] == "judged", handed["model_quality"]
    yield {"settings": s, "decision": handed}


class _Reads(dict[str, Any]):
    """A dict that notes every key looked up in it (nested dicts as dotted paths)."""

    def __init__(self, data: dict[str, Any], seen: set[str], prefix: str = "") -> None:
        super().__init__(data)
        self.seen, self.prefix = seen, prefix

    def _value(self, key: str) -> Any:
        value = super().__getitem__(key)
        return _Reads(value, self.seen, f"{self.prefix}{key}.") if isinstance(value, dict) else value

    def __getitem__(self, key: str) -> Any:
        self.seen.add(self.prefix + key)
        return self._value(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(self.prefix + key)
        return self._value(key) if super().__contains__(key) else default

    def __contains__(self, key: object) -> bool:
        self.seen.add(self.prefix + str(key))
        return super().__contains__(key)


def rule_reads(decision: dict[str, Any], params: Any) -> set[str]:
    """The keys the retraining rule looks up in `decision`, in every branch: drift or not, quality dropped, held
    or not judged, enough new labels or not (only values the decision has are changed, never keys added)."""
    from pipelines.monitoring import retrain

    seen: set[str] = set()
    quality = decision.get("model_quality")
    for drift in (True, False):
        for ok in (False, True, None):
            variant = {**decision, **({"drift": drift} if "drift" in decision else {})}
            if isinstance(quality, dict) and "ok" in quality:
                variant["model_quality"] = {**quality, "ok": ok}
            for rows in (0, 10**9):
                # A key it needs is missing: the rule fails, but the lookup is noted all the same.
                with contextlib.suppress(KeyError, TypeError):
                    retrain.run(_Reads(variant, seen), rows, params)
    return seen


def _has(decision: dict[str, Any], path: str) -> bool:
    node: Any = decision
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.integration
def test_the_decision_has_every_key_retraining_reads(monitored: dict[str, Any]) -> None:
    decision, s = monitored["decision"], monitored["settings"]
    reads = {"the retraining rule (pipelines/monitoring/retrain.py)": rule_reads(decision, s.params.retrain)}
    reads["the retraining flow (pipelines/flows/retraining.py)"] = decision_reads(
        Sources(), "pipelines.flows.retraining"
    )
    MONITORING.no_problems(
        f"{reader} reads {key!r}, which the monitor's decision.json lacks"
        for reader, keys in reads.items()
        for key in sorted(keys)
        if not _has(decision, key)
    )


@pytest.mark.integration
def test_a_decision_missing_a_key_is_caught(monitored: dict[str, Any]) -> None:
    """decision.json without one of the keys the rule reads, each in turn: the check names the key."""
    decision, params = monitored["decision"], monitored["settings"].params.retrain
    keys = sorted(k for k in rule_reads(decision, params) if "." not in k)
    assert keys, "the rule read nothing from the decision"
    for key in keys:
        broken = {k: v for k, v in decision.items() if k != key}
        with MONITORING.breaks(match=f"reads '{key}', which the monitor's decision.json lacks"):
            MONITORING.no_problems(
                f"the retraining rule reads {k!r}, which the monitor's decision.json lacks"
                for k in sorted(rule_reads(broken, params))
                if not _has(broken, k)
            )


@pytest.mark.integration
def test_the_retraining_request_and_the_training_run_quote_the_decision(monitored: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from pipelines.flows.retraining import plan
    from pipelines.flows.training import track_run

    decision, s = monitored["decision"], monitored["settings"]
    request = plan(s, decision)  # what the retraining flow would do about it, and why
    MONITORING.check(
        request["retrain"], f"a drifted week with {request['labels']} did not ask for retraining: {request['reason']}"
    )
    reason = request["reason"]
    quoted = list(decision["drifted_features"])
    quality = decision["model_quality"]
    if quality["ok"] is False:
        quoted.append(f"{quality['roc_auc']:.3f}")
    MONITORING.no_problems(
        f"the retraining reason does not quote {q!r} from the decision: {reason}" for q in quoted if q not in reason
    )
    # The training flow's own track task, in an experiment of its own: the workspace's model is tracked already.
    tracked = track_run.fn(
        s.model_copy(update={"experiment_name": f"{s.experiment_name}-retrained"}), request["trigger"], reason
    )
    tags = MlflowClient().get_run(tracked["run_id"]).data.tags
    MONITORING.check(
        tags.get("relay.trigger") == request["trigger"],
        f"the training run's relay.trigger is {tags.get('relay.trigger')!r}",
    )
    MONITORING.check(
        tags.get("relay.trigger_reason") == reason,
        f"the training run's relay.trigger_reason is {tags.get('relay.trigger_reason')!r}, not the reason {reason!r}",
    )

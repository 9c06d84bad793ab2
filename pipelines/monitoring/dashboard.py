"""Monitor, in Evidently's UI (owner: MLOps engineer, part of the monitor stage): every run as a point over time.

Takes the monitor's decision and the Evidently snapshots its run saved beside the reports (`report.snapshot.json`,
and `quality.snapshot.json` when the champion's quality was judged); hands over one snapshot per run in an
Evidently workspace, in one project per registered model, and that project's dashboard: the share of drifted
columns against `monitor.drift_share`, each feature's drift score, the prediction's drift score against its
threshold, the judged quality metric on newly labelled rows against its limit, and the rows judged.

Nothing is computed twice. A run's snapshot is the drift report's own, with the quality report's metrics added,
and the decision's thresholds, limit and row counts as Evidently values too (the mean of a one-row table), so
every line of a panel has one point per run: Evidently's dashboard puts a point per snapshot on its time axis,
and a value that lived in a snapshot of its own would leave gaps in every other line.

The workspace is a folder (default `local/evidently/`) or an Evidently UI service's URL (RELAY_EVIDENTLY_WORKSPACE,
with RELAY_EVIDENTLY_SECRET for its write secret). Provisioning is idempotent: Relay's panels live in one tab
whose id and panel ids derive from the project and the titles, so provisioning again replaces them in place
(a panel Relay no longer draws goes with its tab) and leaves every other tab as a person left it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, SecretStr

from pipelines.core.contract import Contract
from pipelines.core.handoffs import MonitorDecision
from pipelines.monitoring import drift, quality

if TYPE_CHECKING:
    from evidently.core.report import Snapshot
    from evidently.sdk.models import DashboardPanelPlot
    from evidently.ui.workspace import WorkspaceBase

    from pipelines.core.settings import Settings

TAB = "Relay monitor"
# Relay's numbers for a run (not in either report) as Evidently values: the mean of a one-row table's column.
FACT = "relay_{}"


class DashboardError(RuntimeError):
    """The workspace cannot take the run: unreachable, not a workspace, or the run's snapshot is missing."""


class Target(BaseModel):
    """Where runs go and what the dashboard draws."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    location: str  # a folder, or the http(s) URL of an Evidently UI service
    secret: SecretStr | None = None  # that service's write secret (`evidently ui --secret`), if it has one
    project: str  # the registered model's name: one project per model
    contract: Contract  # the features, drawn one line each
    quality_metric: str  # what model quality is judged by, as Relay names it (roc_auc, rmse, ...)

    @classmethod
    def from_settings(cls, s: Settings) -> Target:
        metric = quality.judged_metric(s.contract.task, s.params.promote.metric)
        return cls(
            location=s.evidently_location,
            secret=s.evidently_secret,
            project=s.model_name,
            contract=s.contract,
            quality_metric=metric,
        )

    @property
    def remote(self) -> bool:
        return self.location.startswith(("http://", "https://"))


def open_workspace(target: Target) -> WorkspaceBase:
    """Evidently's local workspace on the folder (made if missing), or its client of a running UI service."""
    from evidently.ui.workspace import RemoteWorkspace, Workspace

    if not target.remote:
        if "://" in target.location:
            raise DashboardError(
                f"RELAY_EVIDENTLY_WORKSPACE={target.location}: give a folder or the http(s) URL of an Evidently UI"
            )
        return Workspace(target.location)
    secret = target.secret.get_secret_value() if target.secret else None
    try:
        return RemoteWorkspace(target.location, secret=secret)
    except (ValueError, OSError) as exc:  # requests' errors are OSErrors
        raise DashboardError(
            f"no Evidently UI answers at {target.location} ({type(exc).__name__}); start one "
            "(`evidently ui`) or point RELAY_EVIDENTLY_WORKSPACE at a folder"
        ) from None


def project_id(workspace: WorkspaceBase, name: str) -> uuid.UUID:
    """The model's project, made on first use."""
    # Exact names only: a service's search may also answer with projects whose names contain this one.
    found = [p for p in workspace.search_project(name) if p.name == name]
    if found:
        return uuid.UUID(str(found[0].id))
    made = workspace.create_project(name, description=f"Relay's monitor runs of the registered model {name}")
    return uuid.UUID(str(made.id))


def panels(target: Target, project: uuid.UUID) -> list[DashboardPanelPlot]:
    """Relay's panels, in order; each one's id follows from the project and its title."""
    from evidently.sdk.models import DashboardPanelPlot, PanelMetric

    def fact(name: str, legend: str) -> PanelMetric:
        return PanelMetric(legend=legend, metric="MeanValue", metric_labels={"column": FACT.format(name)})

    def drift_of(column: str, legend: str) -> PanelMetric:
        return PanelMetric(legend=legend, metric="ValueDrift", metric_labels={"column": column})

    def panel(title: str, subtitle: str, values: list[PanelMetric], kind: str = "line", size: str = "half") -> Any:
        pid = uuid.uuid5(project, title)
        return DashboardPanelPlot(
            id=pid, title=title, subtitle=subtitle, size=size, values=values, plot_params={"plot_type": kind}
        )

    c, metric = target.contract, target.quality_metric
    judged = quality.EVIDENTLY[c.task][metric]
    share = PanelMetric(legend="drifted share", metric="DriftedColumnsCount", metric_labels={"value_type": "share"})
    return [
        panel(
            "Dataset drift",
            "Share of drifted columns; the dataset drifts when it reaches the threshold (monitor.drift_share)",
            [share, fact("drift_share_threshold", "threshold")],
        ),
        panel(
            "Prediction drift",
            "Drift score of the model's answers against its reference; each run's report names the method",
            [drift_of(drift.PREDICTION, "prediction"), fact("prediction_drift_threshold", "threshold")],
        ),
        # Numbers and categories apart: their scores differ in scale (a normed Wasserstein distance is unbounded,
        # Jensen-Shannon at most 1), so one chart would flatten the categories.
        panel(
            "Feature drift: numbers",
            "Drift score per feature; each run's report names the method and its threshold",
            [drift_of(name, name) for name in c.numeric_features()],
        ),
        panel(
            "Feature drift: categories",
            "Drift score per feature; each run's report names the method and its threshold",
            [drift_of(name, name) for name in [*c.categorical_features(), *c.ordinal_features()]],
        ),
        panel(
            "Model quality on new labels",
            f"{metric} of the champion on rows labelled since its training data, against its limit "
            "(holdout value made worse by monitor.max_quality_drop)",
            [PanelMetric(legend=metric, metric=judged), fact("quality_limit", "limit")],
        ),
        panel(
            "Rows judged",
            "Prediction-log rows the drift check judged, and newly labelled rows the quality check scored",
            [fact("rows_judged", "window rows"), fact("labelled_rows", "labelled rows")],
            kind="bar",
        ),
    ]


def provision(workspace: WorkspaceBase, project: uuid.UUID, wanted: list[DashboardPanelPlot]) -> bool:
    """Make Relay's tab hold exactly `wanted`, first among the tabs; True when the dashboard changed."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel

    tab_id = uuid.uuid5(project, TAB)
    now = workspace.get_dashboard(project)
    ours = {p.id for p in wanted} | {p for tab in now.tabs if tab.id == tab_id for p in tab.panels}
    tab = DashboardTabModel(id=tab_id, title=TAB, panels=[p.id for p in wanted])
    new = DashboardModel(
        tabs=[tab, *(t for t in now.tabs if t.id != tab_id)],
        panels=[*wanted, *(p for p in now.panels if p.id not in ours)],
    )
    if new.dict() == now.dict():
        return False
    workspace.save_dashboard(project, new)
    return True


def _snapshot_model(path: Path) -> Any:
    from evidently.core.report import Snapshot

    if not path.is_file():
        raise DashboardError(f"{path} is missing: the run was made before the evidently-ui part, or moved")
    return Snapshot.load(str(path)).to_snapshot_model()


def _facts(decision: MonitorDecision) -> Any:
    """The decision's thresholds, limit and row counts as one Evidently snapshot (a few milliseconds)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    values: dict[str, float] = {
        "drift_share_threshold": decision.drift_share_threshold,
        "rows_judged": decision.window.judged_rows,
    }
    if drift.PREDICTION in decision.columns:
        values["prediction_drift_threshold"] = decision.columns[drift.PREDICTION].threshold
    q = decision.model_quality
    if q is not None:
        values["labelled_rows"] = q.labelled_rows
        if q.status == "judged" and q.limit is not None:
            values["quality_limit"] = q.limit
    frame = pd.DataFrame([{FACT.format(k): float(v) for k, v in values.items()}])
    data = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=list(frame.columns)))
    return Report([MeanValue(column=c) for c in frame.columns]).run(data, None).to_snapshot_model()


def run_snapshot(decision: MonitorDecision) -> Snapshot:
    """One snapshot for the run: the drift report's, the quality report's metrics and widgets, Relay's facts."""
    from evidently.core.report import Snapshot

    reports = [_snapshot_model(Path(decision.report).with_name(drift.SNAPSHOT))]
    q = decision.model_quality
    if q is not None and q.report:
        reports.append(_snapshot_model(Path(q.report).with_name(quality.SNAPSHOT)))
    facts = _facts(decision)
    folder = Path(decision.report).parent.name
    when = datetime.fromisoformat(decision.created_at).astimezone(UTC).replace(tzinfo=None)
    verdict = "drift in " + (", ".join(decision.drifted_features) or "the prediction") if decision.drift else "no drift"
    tags = [f"model v{decision.model_version}", "drift" if decision.drift else "no drift"]
    tags += ["quality dropped"] if decision.quality_dropped else []
    merged = reports[0].copy(
        update={
            "name": f"{folder}: {verdict}",
            # Evidently's own snapshots carry naive local times; Relay's runs are in UTC, said so in the docs.
            "timestamp": when,
            "tags": tags,
            "metadata": {
                "relay_run": folder,
                "model_version": decision.model_version,
                "reference_version": decision.reference_version,
            },
            "metric_results": {k: v for r in [*reports, facts] for k, v in r.metric_results.items()},
            # The facts are values for the panels, not a report to read: no widgets of theirs.
            "top_level_metrics": [m for r in reports for m in r.top_level_metrics],
            "widgets": [w for r in reports for w in r.widgets],
            "tests_widgets": [w for r in reports for w in r.tests_widgets],
        }
    )
    return Snapshot.load_model(merged)


@contextmanager
def _refusals(target: Target) -> Iterator[None]:
    """A workspace's refusal (a wrong secret, a service gone) as one line naming it, not a traceback."""
    from evidently.errors import EvidentlyError

    try:
        yield
    except EvidentlyError as exc:
        hint = "; RELAY_EVIDENTLY_SECRET must be its --secret" if "permission" in str(exc).lower() else ""
        raise DashboardError(f"the Evidently workspace at {target.location} refused: {exc}{hint}") from None
    except OSError as exc:  # requests' errors, and a folder that cannot be written
        raise DashboardError(f"the Evidently workspace at {target.location} failed: {exc}") from None


def provisioned(target: Target) -> tuple[WorkspaceBase, uuid.UUID]:
    """The workspace, and the model's project in it with Relay's dashboard provisioned."""
    workspace = open_workspace(target)
    with _refusals(target):
        project = project_id(workspace, target.project)
        provision(workspace, project, panels(target, project))
    return workspace, project


def publish(decision: MonitorDecision, target: Target) -> str:
    """Add the run to the model's project (provisioning its dashboard first); returns where the run is."""
    snapshot = run_snapshot(decision)
    workspace, project = provisioned(target)
    with _refusals(target):
        return workspace.add_run(project, snapshot).url

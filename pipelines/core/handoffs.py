"""The typed hand-offs between stage owners that travel as files or return values: the monitor's decision
(MLOps engineer → data scientist), the promotion decision (ML engineer), the training outcome, what
retraining did, and the demo's summary.

Each is a frozen pydantic model. `decision.json` and `summary.json` are written from them and read back
through them, so a reader cannot look up a key the writer does not write (mypy says so), and a file that
lacks a field is refused in one line naming it. The JSON schema of each is pinned in
`tests/contracts/schemas/`, so a renamed field fails the hand-off's contract test and names both roles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.core.atomic import write_json


class HandoffError(ValueError):
    """A hand-off file that does not hold what its model says; the message names the file and the field."""


class Handoff(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def write(self, path: Path) -> Path:
        write_json(self.to_json(), path)
        return path

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise HandoffError(f"{path} is missing") from None
        except json.JSONDecodeError as exc:
            raise HandoffError(f"{path} is not JSON ({exc.msg}, line {exc.lineno})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the top level"
            raise HandoffError(f"{path} is not a {cls.__name__}: {where}: {first['msg']}") from None


# The monitor's decision ------------------------------------------------------------------------------------------


class ColumnDrift(Handoff):
    score: float
    method: str
    threshold: float
    drifted: bool


class MissingValues(Handoff):
    share: float
    reference_share: float
    failed: bool


class DataQuality(Handoff):
    ok: bool
    problems: list[str]
    missing: dict[str, MissingValues]
    out_of_range: dict[str, int]
    empty_columns: list[str]
    max_missing_increase: float


class MonitorWindow(Handoff):
    rows: int
    judged_rows: int
    sampled: bool
    start: str | None = Field(alias="from")
    end: str | None = Field(alias="to")


QualityStatus = Literal["judged", "no labels", "too few labels", "one class", "no baseline", "error"]


class ModelQuality(Handoff):
    """The champion judged on batches labelled since its training data. `ok` is None when not judged."""

    status: QualityStatus
    ok: bool | None
    message: str
    labelled_rows: int = 0
    report: str | None = None
    metric: str | None = None  # what quality is judged by (pipelines/monitoring/quality.py)
    baseline: float | None = None  # the champion's value of it on its own holdout
    limit: float | None = None  # the worst value still ok: the baseline made worse by monitor.max_quality_drop
    value: float | None = None  # on the newly labelled rows
    threshold: float | None = None  # a binary model's
    metrics: dict[str, float] = Field(default_factory=dict)
    positive_rate: float | None = None
    batches: list[str] = Field(default_factory=list)
    labels: str | None = None

    @property
    def dropped(self) -> bool:
        return self.ok is False


class PromotionDecision(Handoff):
    """The ML engineer's gate on one registered version: promoted to champion, or kept aside, and why."""

    model_name: str
    version: str
    promoted: bool
    reason: str
    candidate_metrics: dict[str, float]
    champion_version: str | None = None
    champion_metrics: dict[str, float] = Field(default_factory=dict)


class TrainingOutcome(PromotionDecision):
    """What one run of the training flow produced: the gate's decision on the model it tracked."""

    run_id: str
    data_version: str
    trigger: str
    notified: list[str] = Field(default_factory=list)


class NewLabelsSeen(Handoff):
    batches: list[str]
    rows: int


class Retraining(Handoff):
    """What retraining made of a decision: whether it retrained, why, and the training it ran."""

    retrain: bool
    reason: str
    trigger: str = "drift"
    labels: NewLabelsSeen | None = None
    outcome: str | None = None
    training: TrainingOutcome | None = None
    failed: bool = False


class MonitorDecision(Handoff):
    """The monitor's verdict on one window of traffic, as `decision.json` holds it.

    drift.run writes the drift and data-quality part; the monitoring flow adds the champion's quality on new
    labels, the history row and the index page; retraining adds what it did."""

    drift: bool
    drift_share: float
    drift_share_threshold: float
    drifted_features: list[str]
    prediction_drift: bool
    columns: dict[str, ColumnDrift]
    new_categories: dict[str, list[str]]
    data_quality: DataQuality
    window: MonitorWindow
    reference_version: str
    model_version: str
    created_at: str
    report: str
    model_quality: ModelQuality | None = None
    index: str | None = None
    history_id: int | None = None
    retraining: Retraining | None = None

    @property
    def path(self) -> Path:
        """Where this decision is kept: `decision.json` beside its report."""
        return Path(self.report).with_name(DECISION_FILE)

    @property
    def quality_dropped(self) -> bool:
        return self.model_quality is not None and self.model_quality.dropped


DECISION_FILE = "decision.json"


# part:lineage:begin
# Lineage -----------------------------------------------------------------------------------------------------------


class LineageLink(Handoff):
    """One hand-off on the way back from a prediction: the stage and owner that produced it, what it is, the
    facts recorded about it, how to restore it, and what the record cannot say."""

    model_config = ConfigDict(frozen=False)  # the chain is built link by link
    stage: str
    owner: str
    what: str
    facts: dict[str, Any]
    restore: str = ""
    gaps: list[str] = Field(default_factory=list)


class LineageChain(Handoff):
    """`relay lineage <request-id>`: a prediction traced to its model, run, data version and code."""

    request_id: str
    links: list[LineageLink]


# part:lineage:end
HANDOFFS: tuple[type[Handoff], ...] = (MonitorDecision, PromotionDecision, TrainingOutcome, Retraining)
# part:teaching:begin


# The demo ----------------------------------------------------------------------------------------------------------


class DriftSeen(Handoff):
    drift: bool
    drift_share: float
    drifted_features: list[str]
    report: str


SUMMARY_FILE = "summary.json"


class DemoSummary(Handoff):
    """`reports/demo/summary.json`: what one `make demo` produced (read by Relay's demo benchmark)."""

    first: TrainingOutcome
    drift: DriftSeen
    retrain: Retraining
    second: TrainingOutcome | None
    timings_s: dict[str, float]
    stage_seconds: dict[str, float]
    service_url: str


HANDOFFS += (DemoSummary,)
# part:teaching:end

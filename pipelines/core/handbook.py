"""The team handbook as data: every role of an ML team, who is responsible, accountable, consulted and informed
for each stage (RACI), the hand-off contracts between stage owners, and each owner's working day.

It extends `pipelines.core.ownership` (which says who *owns* each stage) with what a newcomer needs to learn the
loop. `roles.md`, `docs/roles/*.md` and `relay tour` are rendered from it, and the tests check that every
file, command and test it names exists, so the teaching material cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipelines.core.ownership import STAGES, Role


class OtherRole(StrEnum):
    """Roles that ML teams have around the loop but that own no stage in the code."""

    BUSINESS_ANALYST = "business-analyst"
    DATA_ANALYST = "data-analyst"
    BACKEND_DEVELOPER = "backend-developer"
    ARCHITECT = "ml-architect"
    RESEARCH_SCIENTIST = "research-scientist"
    OPTIMIZATION_ENGINEER = "optimization-engineer"
    DEVOPS_ENGINEER = "devops-engineer"

    @property
    def label(self) -> str:
        return _OTHER_LABELS[self]


_OTHER_LABELS = {
    OtherRole.BUSINESS_ANALYST: "Business analyst",
    OtherRole.DATA_ANALYST: "Data analyst",
    OtherRole.BACKEND_DEVELOPER: "Backend developer",
    OtherRole.ARCHITECT: "ML / data architect",
    OtherRole.RESEARCH_SCIENTIST: "Research scientist",
    OtherRole.OPTIMIZATION_ENGINEER: "Optimisation engineer",
    OtherRole.DEVOPS_ENGINEER: "DevOps engineer",
}

AnyRole = Role | OtherRole
ALL_ROLES: tuple[AnyRole, ...] = (*Role, *OtherRole)

# Short column heads for the RACI table, in ALL_ROLES order.
ABBREVIATIONS: dict[AnyRole, str] = {
    Role.DATA_ENGINEER: "DE",
    Role.DATA_SCIENTIST: "DS",
    Role.ML_ENGINEER: "MLE",
    Role.MLOPS_ENGINEER: "MLOps",
    OtherRole.BUSINESS_ANALYST: "BA",
    OtherRole.DATA_ANALYST: "DA",
    OtherRole.BACKEND_DEVELOPER: "Dev",
    OtherRole.ARCHITECT: "Arch",
    OtherRole.RESEARCH_SCIENTIST: "RS",
    OtherRole.OPTIMIZATION_ENGINEER: "Opt",
    OtherRole.DEVOPS_ENGINEER: "DevOps",
}


@dataclass(frozen=True)
class OtherRoleNote:
    role: OtherRole
    does: str
    meets_the_loop: str


OTHER_ROLES: tuple[OtherRoleNote, ...] = (
    OtherRoleNote(
        OtherRole.BUSINESS_ANALYST,
        "frames the problem in money: which returns are worth preventing, what a wrong size hint costs",
        "sets `evaluate.cost_false_negative` and `evaluate.cost_false_positive` in `params.yaml`; signs off "
        "the promotion thresholds",
    ),
    OtherRoleNote(
        OtherRole.DATA_ANALYST,
        "knows the orders and returns data, finds the segments where the model fails, explains drift in business terms",
        "reads `metrics/segments.json`, the MLflow run's plots and the monitoring reports",
    ),
    OtherRoleNote(
        OtherRole.BACKEND_DEVELOPER,
        "builds the shop's checkout, which calls the prediction service and decides what a flagged order "
        "shows the customer",
        "codes against the service's OpenAPI schema (`/docs`) and its error responses",
    ),
    OtherRoleNote(
        OtherRole.ARCHITECT,
        "chooses where each store and server runs and how they connect, and keeps the production path one setting away",
        "`pipelines/core/settings.py`, `infra/`, `docs/architecture.md`",
    ),
    OtherRoleNote(
        OtherRole.RESEARCH_SCIENTIST,
        "tries new model families and features when the current approach stops improving, and hands the "
        "data scientist experiments, not production code",
        "sweeps and MLflow runs (`relay train sweep`, `relay experiments compare`)",
    ),
    OtherRoleNote(
        OtherRole.OPTIMIZATION_ENGINEER,
        "makes the model and the service cheaper and faster once they carry real traffic",
        "the service's batching settings (`RELAY_BATCH_*`, `RELAY_INFERENCE_THREADS`), the sweep's runners",
    ),
    OtherRoleNote(
        OtherRole.DEVOPS_ENGINEER,
        "runs the clusters, networks, secrets, registries and observability the MLOps engineer builds on",
        "the cluster, the image registry, the secrets and the Prometheus/Grafana that deployments rely on",
    ),
)


# R: does the work. A: answers for it (exactly one per stage: its owner). C: asked before. I: told after.
RACI: dict[str, dict[AnyRole, str]] = {
    "ingest": {
        Role.DATA_ENGINEER: "A/R",
        Role.DATA_SCIENTIST: "I",
        Role.MLOPS_ENGINEER: "C",
        OtherRole.DATA_ANALYST: "C",
        OtherRole.BACKEND_DEVELOPER: "C",
        OtherRole.ARCHITECT: "C",
    },
    "validate": {
        Role.DATA_ENGINEER: "A/R",
        Role.DATA_SCIENTIST: "C",
        Role.ML_ENGINEER: "I",
        Role.MLOPS_ENGINEER: "I",
        OtherRole.DATA_ANALYST: "C",
    },
    "version": {
        Role.DATA_ENGINEER: "A/R",
        Role.DATA_SCIENTIST: "I",
        Role.MLOPS_ENGINEER: "C",
        OtherRole.ARCHITECT: "C",
    },
    "train": {
        Role.DATA_ENGINEER: "C",
        Role.DATA_SCIENTIST: "A/R",
        Role.ML_ENGINEER: "I",
        OtherRole.BUSINESS_ANALYST: "C",
        OtherRole.RESEARCH_SCIENTIST: "C",
    },
    "evaluate": {
        Role.DATA_SCIENTIST: "A/R",
        Role.ML_ENGINEER: "C",
        OtherRole.BUSINESS_ANALYST: "C",
        OtherRole.DATA_ANALYST: "C",
        OtherRole.RESEARCH_SCIENTIST: "C",
    },
    "sweep": {
        Role.DATA_SCIENTIST: "A/R",
        Role.MLOPS_ENGINEER: "C",
        OtherRole.RESEARCH_SCIENTIST: "R",
        OtherRole.OPTIMIZATION_ENGINEER: "C",
    },
    "track": {
        Role.DATA_SCIENTIST: "A/R",
        Role.ML_ENGINEER: "C",
        Role.MLOPS_ENGINEER: "C",
        OtherRole.DATA_ANALYST: "I",
        OtherRole.ARCHITECT: "C",
    },
    "register": {
        Role.DATA_SCIENTIST: "C",
        Role.ML_ENGINEER: "A/R",
        Role.MLOPS_ENGINEER: "I",
        OtherRole.BUSINESS_ANALYST: "C",
        OtherRole.BACKEND_DEVELOPER: "I",
    },
    "serve": {
        Role.DATA_SCIENTIST: "I",
        Role.ML_ENGINEER: "A/R",
        Role.MLOPS_ENGINEER: "C",
        OtherRole.BACKEND_DEVELOPER: "C",
        OtherRole.ARCHITECT: "C",
        OtherRole.OPTIMIZATION_ENGINEER: "C",
        OtherRole.DEVOPS_ENGINEER: "C",
    },
    "monitor": {
        Role.DATA_ENGINEER: "I",
        Role.DATA_SCIENTIST: "C",
        Role.ML_ENGINEER: "I",
        Role.MLOPS_ENGINEER: "A/R",
        OtherRole.BUSINESS_ANALYST: "I",
        OtherRole.DATA_ANALYST: "C",
        OtherRole.DEVOPS_ENGINEER: "C",
    },
    "retrain": {
        Role.DATA_ENGINEER: "C",
        Role.DATA_SCIENTIST: "C",
        Role.ML_ENGINEER: "C",
        Role.MLOPS_ENGINEER: "A/R",
        OtherRole.BUSINESS_ANALYST: "I",
    },
}


@dataclass(frozen=True)
class Handoff:
    """A contract between two stage owners: what one hands over, and the test that fails when it breaks."""

    name: str
    giver: Role
    takers: tuple[AnyRole, ...]
    what: str
    lives_in: tuple[str, ...]
    checked_by: str
    test: str
    from_stage: str
    to_stage: str

    @property
    def between(self) -> str:
        return f"{self.giver.label} → {', '.join(t.label for t in self.takers)}"


HANDOFFS: tuple[Handoff, ...] = (
    Handoff(
        "data contract",
        Role.DATA_ENGINEER,
        (Role.DATA_SCIENTIST, Role.ML_ENGINEER, Role.MLOPS_ENGINEER),
        "one schema of the features and the label: names, types, ranges, allowed values, batch rules; and "
        "a versioned dataset that meets it",
        ("contract.yaml", "pipelines/core/contract.py", "pipelines/data/catalog.py"),
        "validation at ingest and in `dvc repro validate`; training, the API's request model and the "
        "monitor's column mapping all derive from it",
        "tests/contracts/test_data_contract.py",
        "version",
        "train",
    ),
    Handoff(
        "model contract",
        Role.DATA_SCIENTIST,
        (Role.ML_ENGINEER,),
        "an MLflow run with the model, its signature and input example, holdout metrics, the decision "
        "threshold and lineage tags (data version, git commit, owner)",
        ("pipelines/training/track.py", "params.yaml"),
        "the promotion gate (`promote` in `params.yaml`)",
        "tests/contracts/test_model_contract.py",
        "track",
        "register",
    ),
    Handoff(
        "service contract",
        Role.ML_ENGINEER,
        (Role.MLOPS_ENGINEER, OtherRole.BACKEND_DEVELOPER),
        "the OpenAPI schema of the prediction service and the prediction-log schema (request id, time, "
        "model version, features, prediction)",
        ("services/api/", "pipelines/core/prediction_log.py"),
        "the API tests; the monitor reads the log",
        "tests/contracts/test_service_contract.py",
        "serve",
        "monitor",
    ),
    Handoff(
        "monitoring contract",
        Role.MLOPS_ENGINEER,
        (Role.DATA_SCIENTIST,),
        "drift and quality reports and a machine-readable decision: drifted features, scores, thresholds, "
        "window, reference version, model quality on new labels",
        ("pipelines/monitoring/drift.py", "pipelines/monitoring/retrain.py"),
        "the retraining rule and flow act on the decision; the retraining run's `relay.trigger_reason` quotes it",
        "tests/contracts/test_monitoring_contract.py",
        "monitor",
        "train",
    ),
)


def handoff(name: str) -> Handoff:
    for h in HANDOFFS:
        if h.name == name:
            return h
    raise KeyError(f"unknown hand-off {name!r}; known: {', '.join(h.name for h in HANDOFFS)}")


@dataclass(frozen=True)
class StageTour:
    """What the tour shows for one stage besides the registry's takes/hands-over."""

    files: tuple[str, ...]
    commands: tuple[str, ...]
    look: str


TOUR: dict[str, StageTour] = {
    "ingest": StageTour(
        ("pipelines/data/ingest.py", "pipelines/data/sources.py", "params.yaml"),
        ("relay data ingest --batch 5", "relay data ingest --file orders.csv"),
        "`data/raw/` (one Parquet file per batch) and `data/quarantine/` (rejected rows with their reasons)",
    ),
    "validate": StageTour(
        ("pipelines/data/validate.py", "contract.yaml", "pipelines/core/contract.py"),
        ("relay data validate data/raw/batch-0001.parquet", "relay data contract", "dvc repro validate"),
        "the error report names every bad column; `relay data contract` prints the schema",
    ),
    "version": StageTour(
        ("pipelines/data/version.py", "pipelines/data/catalog.py", "dvc.yaml"),
        ("relay data versions", "relay data checkout <md5>", "dvc dag"),
        "`dvc.lock` holds the md5 that is the data version; `data/versions.jsonl` lists every version",
    ),
    "train": StageTour(
        ("pipelines/training/train.py", "pipelines/training/features.py", "params.yaml"),
        ("dvc repro train", "relay stage train"),
        "`models/model.joblib`; the threshold is printed and logged",
    ),
    "evaluate": StageTour(
        ("pipelines/training/evaluate.py", "pipelines/training/plots.py"),
        ("dvc repro evaluate", "dvc metrics show", "dvc plots show"),
        "`metrics/holdout.json`, `metrics/segments.json`, and the ROC and confusion plots in `plots/`",
    ),
    "sweep": StageTour(
        ("pipelines/training/sweep.py", "params.yaml"),
        ("relay train sweep --trials 4", "relay experiments compare --sweep"),
        "MLflow UI (`make mlflow-ui`): the sweep's parent run with one nested run per trial",
    ),
    "track": StageTour(
        ("pipelines/training/track.py", "pipelines/core/lineage.py"),
        ("make mlflow-ui", "relay experiments compare", "relay lineage <version>"),
        "MLflow UI: the experiment's runs, each with params, metrics, plots, the model and its tags",
    ),
    "register": StageTour(
        ("pipelines/release/register.py", "pipelines/release/rollback.py", "params.yaml"),
        ("relay model status", "relay model rollback --reason 'bad batch'"),
        "MLflow UI, Models tab: versions, the `champion` alias and the gate's verdict in each version's tags",
    ),
    "serve": StageTour(
        ("services/api/main.py", "services/api/routes/", "pipelines/core/prediction_log.py"),
        ("make serve", "curl -s 127.0.0.1:8000/health/ready"),
        "`http://127.0.0.1:8000/docs` (OpenAPI), `/metrics` (Prometheus), the prediction log",
    ),
    "monitor": StageTour(
        ("pipelines/monitoring/drift.py", "pipelines/monitoring/quality.py", "pipelines/flows/monitoring.py"),
        (
            "relay monitor --no-retrain",
            "relay replay --batch 9 --scenario promotion",
            "relay prefect up",  # part:prefect-server
            "relay deploy",  # part:prefect-server
        ),
        "`reports/monitoring/index.html`: every run, its Evidently drift and quality reports and its decision",
    ),
    "retrain": StageTour(
        ("pipelines/monitoring/retrain.py", "pipelines/flows/retraining.py"),
        ("relay retrain --dry-run", "relay retrain"),
        "the monitoring index's retraining column; the MLflow run's `relay.trigger` and `relay.trigger_reason`",
    ),
}


@dataclass(frozen=True)
class Exercise:
    title: str
    steps: tuple[str, ...]
    expect: str


def is_command(step: str) -> bool:
    """An exercise step to type (shown as code), rather than one to do by hand."""
    return step.startswith(("relay ", "make ", "dvc "))


@dataclass(frozen=True)
class RoleDay:
    """One stage owner's working day in Relay."""

    role: Role
    mission: str
    files: tuple[str, ...]
    commands: tuple[str, ...]
    checks: tuple[str, ...]
    exercises: tuple[Exercise, ...]

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(s.name for s in STAGES if s.owner is self.role)

    @property
    def receives(self) -> tuple[Handoff, ...]:
        return tuple(h for h in HANDOFFS if self.role in h.takers)

    @property
    def gives(self) -> tuple[Handoff, ...]:
        return tuple(h for h in HANDOFFS if h.giver is self.role)


DAYS: dict[Role, RoleDay] = {
    Role.DATA_ENGINEER: RoleDay(
        Role.DATA_ENGINEER,
        "get the shop's orders into a form the rest of the team can trust, and make every model name the "
        "exact data it saw",
        ("contract.yaml", "pipelines/data/", "pipelines/core/contract.py", "dvc.yaml", "docs/bring-your-own-data.md"),
        (
            "relay data ingest",
            "relay data validate <file>",
            "relay data versions",
            "relay data checkout <md5>",
            "dvc repro version",
            "dvc push",
        ),
        ("tests/contracts/test_data_contract.py", "tests/unit/data/", "tests/integration/test_data_versions.py"),
        (
            Exercise(
                "Land a bad batch and read the quarantine",
                (
                    "Write a CSV with a negative price and an unknown channel",
                    "relay data validate bad.csv",
                    "relay data ingest --file bad.csv",
                ),
                "validate names both columns; ingest refuses the batch (or quarantines the rows, with "
                "`validate.max_invalid_share` above 0) and nothing already landed changes",
            ),
            Exercise(
                "Add a column to the data contract",
                (
                    "Add a categorical `payment_method` (card, paypal, invoice) to `contract.yaml` and the generator",
                    "relay data contract",
                    "make test-fast",
                ),
                "the API's request model and the monitor pick the column up without edits; the data contract "
                "test tells you which role's code still assumes the old columns",
            ),
            Exercise(
                "Point ingest at your own file",
                ("Follow docs/bring-your-own-data.md", "relay data ingest --file my_orders.parquet"),
                "a new raw batch and, after `dvc repro version`, a new data version in `relay data versions`",
            ),
        ),
    ),
    Role.DATA_SCIENTIST: RoleDay(
        Role.DATA_SCIENTIST,
        "turn the versioned data into a model, and into evidence about that model that someone else can "
        "judge without reading the training code",
        ("pipelines/training/", "params.yaml", "pipelines/core/scoring.py", "docs/experiments.md"),
        (
            "dvc repro evaluate",
            "dvc metrics diff",
            "relay train sweep",
            "relay experiments compare",
            "make mlflow-ui",
        ),
        (
            "tests/contracts/test_model_contract.py",
            "tests/unit/training/",
            "tests/integration/test_experiments.py",
        ),
        (
            Exercise(
                "Add a feature",
                (
                    "Add a `bmi` column (weight / height²) in `pipelines/training/features.py`",
                    "dvc repro evaluate",
                    "dvc metrics diff",
                ),
                "only train and evaluate re-run; the diff shows whether ROC AUC moved; the model contract test "
                "still passes because the input columns did not change",
            ),
            Exercise(
                "Run a sweep and adopt the winner",
                ("relay train sweep --trials 4", "relay experiments compare --sweep", "relay train sweep --apply"),
                "one nested MLflow run per trial, the best marked, its values written into `params.yaml`",
            ),
            Exercise(
                "Read a retraining run",
                ("make demo", "make mlflow-ui"),
                "the newest run carries `relay.trigger=drift` and a `relay.trigger_reason` quoting the monitor",
            ),
        ),
    ),
    Role.ML_ENGINEER: RoleDay(
        Role.ML_ENGINEER,
        "decide which model may serve customers, run it as a service, and keep a way back",
        ("pipelines/release/", "services/api/", "pipelines/core/prediction_log.py", "params.yaml", "docs/serving.md"),
        (
            "relay pipeline",
            "relay model status",
            "relay model rollback",
            "make serve",
            "relay lineage <version>",
        ),
        (
            "tests/contracts/test_service_contract.py",
            "tests/integration/test_registry.py",
            "tests/integration/test_api.py",
        ),
        (
            Exercise(
                "Tighten the promotion gate",
                ("Set `promote.min_improvement: 0.05` in `params.yaml`", "relay pipeline", "relay model status"),
                "the new version is registered but kept aside as `challenger`; the champion keeps serving",
            ),
            Exercise(
                "Roll back",
                ("relay model rollback --reason 'practice'", "relay model status"),
                "the alias moves to the previous champion, the reason is recorded on both versions, and a "
                "running service reloads",
            ),
            Exercise(
                "Send the service a bad request",
                ("make serve", "open http://127.0.0.1:8000/docs and send a record with `customer_height_cm: -1`"),
                "a 422 naming the field and the rule it breaks; nothing reaches the model or the log",
            ),
        ),
    ),
    Role.MLOPS_ENGINEER: RoleDay(
        Role.MLOPS_ENGINEER,
        "keep the loop running without heroics: schedules, monitoring, retraining, images and CI",
        ("pipelines/flows/", "pipelines/monitoring/", "infra/", "Makefile", ".github/workflows/", "docs/monitoring.md"),
        (
            "relay monitor",
            "relay retrain --dry-run",
            "relay prefect up",  # part:prefect-server
            "relay deploy",  # part:prefect-server
            "make test",
            "make images",  # part:containers
        ),
        (
            "tests/contracts/test_monitoring_contract.py",
            "tests/integration/test_retraining_loop.py",
            "tests/integration/test_monitor_scenarios.py",
        ),
        (
            Exercise(
                "Simulate a promotion week and watch the monitor fire",
                (
                    "make serve   (in a second terminal)",
                    "relay replay --batch 9 --scenario promotion",
                    "relay monitor --no-retrain",
                ),
                "exit code 3 and a decision whose drifted features include `discount` and `price`; "
                "`reports/monitoring/index.html` links the Evidently report",
            ),
            # part:prefect-server:begin
            Exercise(
                "Put monitoring on a schedule",
                ("relay prefect up", "relay deploy --cron '*/5 * * * *'", "open the Prefect UI at 127.0.0.1:4200"),
                "the `monitoring/scheduled` deployment with its owner tag, and a run every five minutes",
            ),
            # part:prefect-server:end
            Exercise(
                "Break a hand-off on purpose",
                (
                    "Rename `drifted_features` in the decision that `pipelines/monitoring/drift.py` writes",
                    "make test-fast",
                ),
                "the monitoring contract test fails and names the MLOps engineer and the data scientist",
            ),
        ),
    ),
}


def raci_problems() -> list[str]:
    """A RACI matrix is only useful if every stage has exactly one accountable role: its owner."""
    found = []
    for s in STAGES:
        row = RACI.get(s.name)
        if row is None:
            found.append(f"RACI has no row for stage {s.name!r}")
            continue
        accountable = [r for r, v in row.items() if "A" in v]
        if accountable != [s.owner]:
            found.append(f"stage {s.name!r}: accountable {[r.value for r in accountable]}, owner is {s.owner.value}")
        if "R" not in row.get(s.owner, ""):
            found.append(f"stage {s.name!r}: its owner {s.owner.value} is not responsible")
        bad = {v for v in row.values() if v not in {"A/R", "R", "C", "I"}}
        if bad:
            found.append(f"stage {s.name!r}: unknown RACI letters {sorted(bad)}")
    found += [f"RACI row {name!r} is not a stage" for name in RACI if name not in {s.name for s in STAGES}]
    return found

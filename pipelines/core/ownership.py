"""Who owns which stage: the one source of truth for ownership in Relay.

Everything that shows an owner is derived from or checked against this registry:
`roles.md`, `.github/CODEOWNERS`, the `meta.owner` of every stage in `dvc.yaml`, the tags on MLflow runs
and registered versions, the tags on Prefect tasks, and the `relay roles` table. `relay roles --check`
(and the test suite) fails when any of them disagree with what is written here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ParamSpec, TypeVar


class Role(StrEnum):
    """The four stage-owning roles of an ML team."""

    DATA_ENGINEER = "data-engineer"
    DATA_SCIENTIST = "data-scientist"
    ML_ENGINEER = "ml-engineer"
    MLOPS_ENGINEER = "mlops-engineer"

    @property
    def label(self) -> str:
        return {
            Role.DATA_ENGINEER: "Data engineer",
            Role.DATA_SCIENTIST: "Data scientist",
            Role.ML_ENGINEER: "ML engineer",
            Role.MLOPS_ENGINEER: "MLOps engineer",
        }[self]

    @property
    def team(self) -> str:
        """The GitHub team that CODEOWNERS names for this role (rename to your organisation's teams)."""
        return f"@relay-org/{self.value}s"


@dataclass(frozen=True)
class Stage:
    """One stage of the loop, its owner and the hand-off it makes."""

    name: str
    owner: Role
    module: str
    takes: str
    hands_over: str
    dvc_stage: bool = False


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        Role.DATA_ENGINEER,
        "pipelines.data.ingest",
        "a source: generator batch, CSV/Parquet file, folder of them, or URL",
        "raw batch file `data/raw/<batch>.parquet`; rejected rows in `data/quarantine/`",
    ),
    Stage(
        "validate",
        Role.DATA_ENGINEER,
        "pipelines.data.validate",
        "landed batches + the data contract (`contract.yaml`)",
        "`data/validated/<batch>.parquet`, or a report naming every bad column",
        dvc_stage=True,
    ),
    Stage(
        "version",
        Role.DATA_ENGINEER,
        "pipelines.data.version",
        "validated batches",
        "train/holdout split `data/dataset/` whose DVC md5 is the data version, listed by `relay data versions`",
        dvc_stage=True,
    ),
    Stage(
        "train",
        Role.DATA_SCIENTIST,
        "pipelines.training.train",
        "the versioned train split + `params.yaml`",
        "fitted pipeline `models/model.joblib` with its decision threshold",
        dvc_stage=True,
    ),
    Stage(
        "evaluate",
        Role.DATA_SCIENTIST,
        "pipelines.training.evaluate",
        "the model + the holdout split",
        "`metrics/holdout.json` and plots for DVC and MLflow",
        dvc_stage=True,
    ),
    # part:experiments:begin
    Stage(
        "sweep",
        Role.DATA_SCIENTIST,
        "pipelines.training.sweep",
        "the versioned train split + the search space in `params.yaml` (`sweep`)",
        "one nested MLflow run per trial, the best marked; the values to adopt via `dvc exp run -S` or `--apply`",
    ),
    # part:experiments:end
    Stage(
        "track",
        Role.DATA_SCIENTIST,
        "pipelines.training.track",
        "model, metrics, params and data version",
        "MLflow run with signature, input example, metrics and lineage tags",
    ),
    Stage(
        "register",
        Role.ML_ENGINEER,
        "pipelines.release.register",
        "candidate run + current champion",
        "registered version; alias `champion` moves only if the promotion gate passes",
    ),
    # part:batch-scoring:begin
    Stage(
        "score",
        Role.ML_ENGINEER,
        "pipelines.release.score",
        "a CSV or Parquet file of records + `models:/<name>@champion`",
        "one prediction per record (probability, label, model and data version) in a Parquet or CSV file",
    ),
    # part:batch-scoring:end
    Stage(
        "serve",
        Role.ML_ENGINEER,
        "services.api.main",
        "`models:/<name>@champion`",
        "FastAPI service; every prediction written to the prediction log",
    ),
    Stage(
        "monitor",
        Role.MLOPS_ENGINEER,
        "pipelines.monitoring.drift",
        "prediction log window + the champion's reference data + batches labelled since it was trained",
        "Evidently drift and quality reports, a JSON decision, a row in the monitoring history",
    ),
    Stage(
        "retrain",
        Role.MLOPS_ENGINEER,
        "pipelines.monitoring.retrain",
        "monitor decision (drift, quality drop) + newly labelled batches",
        "a retraining run: new data version through training and the promotion gate, its outcome recorded",
    ),
)

# Paths each role answers for in code review; rendered into .github/CODEOWNERS.
OWNED_PATHS: dict[Role, tuple[str, ...]] = {
    Role.DATA_ENGINEER: (
        "/pipelines/data/",
        "/pipelines/core/contract.py",
        "/pipelines/core/contract_checks.py",
        "/pipelines/core/dataset.py",
        "/contract.yaml",
        "/docs/bring-your-own-data.md",
        "/docs/examples/",  # part:teaching
        "/tests/unit/data/",
    ),
    Role.DATA_SCIENTIST: ("/pipelines/training/", "/pipelines/core/scoring.py", "/tests/unit/training/"),
    Role.ML_ENGINEER: (
        "/pipelines/release/",
        "/pipelines/core/prediction_log.py",
        "/services/",
        "/tests/unit/release/",
        "/tests/unit/services/",
    ),
    Role.MLOPS_ENGINEER: (
        "/pipelines/monitoring/",
        "/pipelines/flows/",
        "/pipelines/cli/retrain.py",
        "/pipelines/teaching/",  # part:teaching
        "/pipelines/template/",  # part:template-only
        "/copier.yml",  # part:template-only
        # part:prefect-server:begin
        "/pipelines/cli/prefect_server.py",
        # part:prefect-server:end
        "/infra/",
        "/.ci/",
        "/.github/",
        "/.pre-commit-config.yaml",
        "/.dockerignore",  # part:containers
        "/docs/deploy.md",  # part:containers
        "/Makefile",
        "/dvc.yaml",
        "/tests/unit/monitoring/",
    ),
}

_BY_NAME = {s.name: s for s in STAGES}


def get_stage(name: str) -> Stage:
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"unknown stage {name!r}; known stages: {known}") from None


def owner_of(name: str) -> Role:
    return get_stage(name).owner


def tags_for(name: str) -> dict[str, str]:
    """Owner and stage as key/value tags (MLflow runs, registered versions, log lines)."""
    return {"relay.stage": name, "relay.owner": owner_of(name).value}


def prefect_tags(name: str) -> list[str]:
    """Owner and stage as Prefect tags (Prefect tags are plain strings)."""
    return [f"stage:{name}", f"owner:{owner_of(name).value}"]


P = ParamSpec("P")
R = TypeVar("R")


def stage(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a function as the implementation of a registered stage.

    The mark is checked by the ownership test: each registered stage has exactly one marked function,
    in the module the registry names.
    """
    spec = get_stage(name)

    def mark(fn: Callable[P, R]) -> Callable[P, R]:
        if fn.__module__ != spec.module:
            raise RuntimeError(f"stage {name!r} is registered in {spec.module}, not {fn.__module__}")
        fn.__relay_stage__ = spec  # type: ignore[attr-defined]
        return fn

    return mark

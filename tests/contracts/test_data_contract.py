"""Data contract (data engineer → data scientist, ML engineer, MLOps engineer): `contract.yaml`.

What the data engineer hands over, the validated batches and the versioned dataset made by the real stage
functions (and, in a trained workspace, its entry in `data/versions.jsonl`), meets the contract and is accepted by
the data scientist's own reader. And every consumer takes its columns from the contract instead of re-declaring
them: after a change to the contract, the training features, the API's request model, the prediction log and
the monitor's column mapping all follow without an edit, and a consumer that does not is named with its owner.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.core.contract import FEATURE_KINDS, Contract
from pipelines.core.contract_checks import Screen, to_arrow
from pipelines.core.dataset import SPLITS, read_manifest, read_split, split_files
from pipelines.core.ownership import Role, owner_of
from pipelines.core.params import load_params
from pipelines.data import ingest, validate, version
from pipelines.data.generator import generate_batch
from tests.contracts.conftest import PREDICT, request_schema, service_openapi
from tests.contracts.handoff import guard
from tests.helpers import REPO, write_dataset

DATA = guard("data contract")
PARAMS = load_params(REPO / "params.yaml")
CHUNK_ROWS = 10_000


# What the data engineer hands over ------------------------------------------------------------------------------


def _file_problems(path: Path, contract: Contract) -> list[str]:
    """A batch file's columns and their types on disk against the contract's."""
    have, want = pq.read_schema(path), contract.arrow_schema()
    where = f"{path.parent.name}/{path.name}"
    problems = [f"{where} lacks column {n!r}" for n in want.names if n not in have.names]
    problems += [
        f"{where} has column {n!r}, which the contract does not declare" for n in have.names if n not in want.names
    ]
    problems += [
        f"{where} stores {f.name!r} as {have.field(f.name).type}, the contract says {f.type}"
        for f in want
        if f.name in have.names and have.field(f.name).type != f.type
    ]
    return problems


def handover_problems(validated_dir: Path, dataset_dir: Path, contract: Contract) -> list[str]:
    """Everything wrong with the validated batches and the versioned dataset, judged by the contract and by the
    reader the data scientist's train and evaluate stages use."""
    from pipelines.training.train import TrainingDataError, read_checked_split

    problems: list[str] = []
    validated = sorted(validated_dir.glob("*.parquet"))
    if not validated:
        problems.append(f"no validated batches in {validated_dir}")
    seen: set[str] = set()  # ids must be unique across batches too
    for path in validated:
        problems += _file_problems(path, contract)
        screen = Screen(contract, f"validated/{path.name}", seen)
        screen.screen(pd.read_parquet(path))
        report = screen.finish(0.0)
        if not report.ok:
            problems.append(report.summary())
    ids: dict[str, set[str]] = {}
    for split in SPLITS:
        try:
            files = split_files(dataset_dir, split)
        except FileNotFoundError as exc:
            problems.append(str(exc))
            continue
        for path in files:
            problems += _file_problems(path, contract)
        try:
            frame = read_checked_split(dataset_dir, split, contract)
        except TrainingDataError as exc:
            problems.append(f"the data scientist's stages refuse the {split} split: {exc}")
            continue
        ids[split] = set(frame[contract.id_column])
    both = ids.get("train", set()) & ids.get("holdout", set())
    if both:
        problems.append(f"{len(both)} id(s) are in both train and holdout, e.g. {sorted(both)[0]!r}")
    manifest = read_manifest(dataset_dir)
    if manifest.contract != contract.name:
        problems.append(f"the dataset manifest names contract {manifest.contract!r}, not {contract.name!r}")
    return problems


def hand_over(root: Path, contract: Contract, batches: int, rows: int) -> tuple[Path, Path]:
    """Land `batches` generator batches, then run the data engineer's validate and version stages."""
    raw, validated, dataset = root / "raw", root / "validated", root / "dataset"
    for b in range(1, batches + 1):
        ingest.run(
            f"batch-{b:04d}",
            ingest.generator_chunks(b, rows, 42),
            ingest.Landing(contract=contract, raw_dir=raw, quarantine_dir=root / "quarantine"),
        )
    validate.run(raw, validated, root / "validation.json", contract, chunk_rows=CHUNK_ROWS)
    version.run(validated, dataset, contract, holdout_share=PARAMS.version.holdout_share, chunk_rows=CHUNK_ROWS)
    return validated, dataset


@pytest.fixture(scope="module")
def handed_over(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> tuple[Path, Path]:
    rows = math.ceil(1.5 * contract.batch.min_rows / PARAMS.version.holdout_share)
    return hand_over(tmp_path_factory.mktemp("handover"), contract, batches=2, rows=rows)


def test_validated_and_versioned_data_meet_the_contract(handed_over: tuple[Path, Path], contract: Contract) -> None:
    DATA.no_problems(handover_problems(*handed_over, contract))


def _out_of_range(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, str]:
    name = next(n for n in contract.numeric_features() if contract.column(n).maximum is not None)
    frame.loc[frame.index[0], name] = 10 * float(contract.column(name).maximum or 0) + 1
    return frame, name


def _dropped_column(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, str]:
    name = contract.feature_columns()[-1]
    return frame.drop(columns=[name]), name


@pytest.mark.parametrize("damage", [_out_of_range, _dropped_column], ids=["value-out-of-range", "column-missing"])
def test_a_damaged_hand_over_is_caught(
    damage: Callable[[pd.DataFrame, Contract], tuple[pd.DataFrame, str]],
    handed_over: tuple[Path, Path],
    contract: Contract,
    tmp_path: Path,
) -> None:
    """A holdout file edited after versioning: the check names the column and both sides of the hand-off."""
    validated, dataset = (shutil.copytree(p, tmp_path / p.name) for p in handed_over)
    path = split_files(dataset, "holdout")[0]
    frame, column = damage(pd.read_parquet(path), contract)
    if column in frame:
        pq.write_table(to_arrow(frame, contract), path)
    else:
        frame.to_parquet(path, index=False)
    with DATA.breaks(match=column):
        DATA.no_problems(handover_problems(validated, dataset, contract))


def test_every_batch_the_data_engineer_accepts_versions_into_a_usable_dataset(
    tmp_path: Path, contract: Contract
) -> None:
    validated, dataset = hand_over(tmp_path, contract, batches=2, rows=2 * contract.batch.min_rows)
    DATA.no_problems(handover_problems(validated, dataset, contract))


# Every consumer derives its columns from the contract ------------------------------------------------------------

SUFFIX = "_v2"


def reshaped(contract: Contract) -> Contract:
    """A change a data engineer could make: the last feature removed, and a copy of one feature of each kind added
    under a new name. Every consumer must follow it without an edit."""
    data = contract.model_dump(by_alias=True, exclude_none=True)
    features = contract.feature_columns()
    del data["columns"][features[-1]]
    for kind in FEATURE_KINDS:
        source = next((n for n in features[:-1] if contract.column(n).kind == kind), None)
        if source is not None:
            data["columns"][source + SUFFIX] = {**data["columns"][source], "name": source + SUFFIX}
    return Contract.model_validate(data)


def records_for(contract: Contract, batch: int, rows: int) -> pd.DataFrame:
    """Generator rows in the shape of `contract` (a copied column repeats its source's values)."""
    frame = generate_batch(batch, rows)
    for name in contract.columns:
        if name not in frame:
            frame[name] = frame[name.removesuffix(SUFFIX)]
    return frame[list(contract.columns)]


def training_columns(contract: Contract, work: Path) -> list[str]:
    """The columns the data scientist's train stage fits the model on."""
    import joblib

    from pipelines.core.params import EvaluateParams, HistGradientBoosting, TrainParams
    from pipelines.training import train

    frame = records_for(contract, 1, 1500)
    write_dataset(work / "dataset", frame.iloc[:1200], frame.iloc[1200:])
    train.run(
        work / "dataset",
        work / "model",
        contract,
        TrainParams(model=HistGradientBoosting(max_iter=10)),
        EvaluateParams(),
    )
    model = joblib.load(work / "model" / "model.joblib")
    # The columns the fitted encoder really uses, not only those it was given (it could drop the rest).
    encoder = model.steps[0][1] if hasattr(model, "steps") else model
    if not hasattr(encoder, "transformers_"):
        return list(model.feature_names_in_)
    return [
        c for _, how, columns in encoder.transformers_ if not (isinstance(how, str) and how == "drop") for c in columns
    ]


def api_columns(contract: Contract, work: Path) -> list[str]:
    """The fields of the request body the prediction service documents and accepts."""
    body = request_schema(service_openapi(contract, work / "service"), PREDICT)
    return list((body or {}).get("properties", {}))


def log_columns(contract: Contract, work: Path) -> list[str]:
    """The feature columns of the prediction log's table."""
    import sqlalchemy as sa

    from pipelines.core import prediction_log

    table = prediction_log._table(sa.MetaData(), contract)
    return [c.name for c in table.columns if c.name != "id" and c.name not in prediction_log.META_COLUMNS]


def monitor_columns(contract: Contract, work: Path) -> list[str]:
    """The columns the drift monitor compares (its column mapping, without the model's prediction)."""
    from pipelines.monitoring import drift

    numeric, categorical = drift._columns(contract)
    return [c for c in numeric + categorical if c != drift.PREDICTION]


@dataclass(frozen=True)
class Consumer:
    name: str
    owner: Role
    columns: Callable[[Contract, Path], list[str]]


CONSUMERS = (
    Consumer("the training features (pipelines/training/)", owner_of("train"), training_columns),
    Consumer("the API's request model (services/api/)", owner_of("serve"), api_columns),
    Consumer("the prediction log's columns (pipelines/core/prediction_log.py)", owner_of("serve"), log_columns),
    Consumer("the monitor's column mapping (pipelines/monitoring/drift.py)", owner_of("monitor"), monitor_columns),
)


def check_consumer(consumer: Consumer, contract: Contract, work: Path) -> None:
    want = contract.feature_columns()
    try:
        got = consumer.columns(contract, work)
    except Exception as exc:
        DATA.fail(
            f"{consumer.name}, the {consumer.owner.label}'s code, fails on contract.yaml's features {want}: "
            f"{type(exc).__name__}: {exc}"
        )
    missing = [c for c in want if c not in got]
    extra = [c for c in got if c not in want]
    repeated = sorted({c for c in got if got.count(c) > 1})
    problems = [f"lacks {', '.join(map(repr, missing))}"] if missing else []
    problems += [f"still has {', '.join(map(repr, extra))}"] if extra else []
    problems += [f"repeats {', '.join(map(repr, repeated))}"] if repeated else []
    DATA.check(
        not problems,
        f"{consumer.name}, the {consumer.owner.label}'s code, does not follow contract.yaml: "
        f"{'; '.join(problems)} (the contract's features: {', '.join(want)})",
    )


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.columns.__name__)
def test_every_consumer_takes_its_columns_from_the_contract(
    consumer: Consumer, contract: Contract, tmp_path: Path
) -> None:
    changed = reshaped(contract)
    assert set(changed.feature_columns()) != set(contract.feature_columns())  # the change is a real one
    for i, version_of_contract in enumerate((contract, changed)):
        check_consumer(consumer, version_of_contract, tmp_path / str(i))


def test_a_consumer_that_re_declares_the_columns_is_named(
    contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor's mapping frozen on today's contract, as if its columns were written out in drift.py."""
    from pipelines.monitoring import drift

    frozen = drift._columns(contract)
    monkeypatch.setattr(drift, "_columns", lambda _: frozen)
    monitor = next(c for c in CONSUMERS if c.columns is monitor_columns)
    check_consumer(monitor, contract, tmp_path)  # today's contract still matches
    with DATA.breaks(match=rf"monitor's column mapping.*the {monitor.owner.label}'s code.*lacks '\w+{SUFFIX}'"):
        check_consumer(monitor, reshaped(contract), tmp_path)


# In a workspace the training flow built with DVC -------------------------------------------------------------------


@pytest.mark.integration
def test_the_workspace_data_version_meets_the_contract_and_is_catalogued(trained_workspace: Path) -> None:
    from pipelines.core.settings import Settings
    from pipelines.data import catalog
    from pipelines.data.version import data_version

    s = Settings(root=trained_workspace)
    DATA.no_problems(handover_problems(s.validated_dir, s.dataset_dir, s.contract))
    current = data_version(trained_workspace)
    entries = {v.version: v for v in catalog.read(s.versions_catalog)}
    DATA.check(current in entries, f"data/versions.jsonl lacks the data version {current[:10]} dvc.lock records")
    entry, manifest = entries[current], read_manifest(s.dataset_dir)
    DATA.check(entry.contract == s.contract.name, f"version {current[:10]} is catalogued under {entry.contract!r}")
    DATA.check(
        sorted(entry.batches) == sorted(manifest.batches) and entry.rows == manifest.rows,
        f"data/versions.jsonl describes version {current[:10]} as {entry.rows} rows of {entry.batches}, the dataset "
        f"holds {manifest.rows} rows of {sorted(manifest.batches)}",
    )
    rows = sum(len(read_split(s.dataset_dir, split, [s.contract.id_column])) for split in SPLITS)
    DATA.check(rows == entry.rows, f"the dataset has {rows} rows, its catalogue entry says {entry.rows}")

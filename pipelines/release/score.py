"""Score (owner: ML engineer): the champion over a file, offline.

Takes the records of a file as chunks (the contract's features; its other columns may come along, and an id
column is carried into the output; the CLI and the flow read CSV or Parquet with the data engineer's
sources) and the champion from the registry; hands over a Parquet or CSV file with
one row per record: its position in the file, its id if the file has one, the answer for the contract's task
(binary: the probability of the positive label and the label decided at the champion's threshold;
multiclass: the most probable class and each class's probability; regression: the value), and the model
version and the data version the model was trained on. The file is read and scored in chunks, so memory
stays bounded whatever its size; each chunk is checked against the contract before it is scored, and the
output appears only when every record was scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from pipelines.core.contract import Contract
from pipelines.core.ownership import stage
from pipelines.core.scoring import outputs


class ScoreInputs(BaseModel):
    """What batch scoring takes: the file, where the predictions go, the contract and the registry."""

    model_config = ConfigDict(frozen=True)
    source: str  # where the records come from, for messages
    out: Path
    contract: Contract
    tracking_uri: str
    model_name: str


@dataclass(frozen=True)
class Scored:
    rows: int
    out: Path
    model_version: str
    data_version: str


def _champion(tracking_uri: str, model_name: str) -> tuple[Any, Any]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(tracking_uri)
    try:
        version = MlflowClient().get_model_version_by_alias(model_name, "champion")
    except MlflowException:
        raise LookupError(f"no champion of {model_name!r} at {tracking_uri}: run `relay pipeline` first") from None
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{model_name}/{version.version}"), version


def _checked(chunk: pd.DataFrame, contract: Contract, source: str) -> pd.DataFrame:
    """The chunk's features, typed by the contract; a one-line error naming the first bad values otherwise."""
    import pandera.errors

    unknown = sorted(set(chunk.columns) - set(contract.columns))
    missing = [c for c in contract.feature_columns() if c not in chunk.columns]
    if unknown or missing:
        named = [f"{what} {', '.join(cols)}" for what, cols in (("unknown", unknown), ("missing", missing)) if cols]
        raise ValueError(f"{source}: columns do not match the contract: {'; '.join(named)}; nothing was scored")
    features = contract.feature_columns()
    try:
        return contract.pandera_schema(features).validate(chunk[features], lazy=True)
    except pandera.errors.SchemaErrors as exc:
        case = exc.failure_cases.dropna(subset=["index"]).head(1)
        where = (
            f"row {int(case['index'].iloc[0])}: " if len(case) else ""
        )  # the chunk's index counts from the file's start
        bad = case.iloc[0] if len(case) else exc.failure_cases.iloc[0]
        value = getattr(bad["failure_case"], "item", lambda: bad["failure_case"])()
        raise ValueError(
            f"{source}: {where}{bad['column']} {value!r} breaks the contract ({bad['check']}); nothing was scored"
        ) from None


def _answers(out: np.ndarray, contract: Contract, threshold: float) -> dict[str, Any]:
    """The output's columns for the task (the same answers the service gives)."""
    if contract.task == "regression":
        return {"value": np.round(out, 6)}
    if contract.task == "binary":  # the labels as the data writes them (1/0, true/false, yes/no)
        negative, positive = contract.labels
        return {"probability": np.round(out[:, 1], 6), "label": np.where(out[:, 1] >= threshold, positive, negative)}
    labels = np.asarray([str(label) for label in contract.labels])
    return {"label": labels[out.argmax(axis=1)]} | {
        f"probability_{label}": np.round(out[:, i], 6) for i, label in enumerate(labels)
    }


@stage("score")
def run(chunks: Iterable[pd.DataFrame], inputs: ScoreInputs) -> Scored:
    """Score every record of `chunks` with the champion into `inputs.out`, chunk by chunk."""
    contract = inputs.contract
    model, version = _champion(inputs.tracking_uri, inputs.model_name)
    threshold = float(version.tags.get("relay.threshold", "0.5"))
    data_version = version.tags.get("relay.data_version", "unknown")
    inputs.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = inputs.out.with_name(f".{inputs.out.name}.{os.getpid()}.tmp")
    csv = inputs.out.suffix.lower() == ".csv"
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for chunk in chunks:
            out = outputs(model, _checked(chunk, contract, inputs.source), contract.task, len(contract.labels))
            scored = pd.DataFrame({"row": np.arange(rows, rows + len(chunk))})
            if contract.id_column is not None and contract.id_column in chunk.columns:
                scored[contract.id_column] = chunk[contract.id_column].astype(str).to_numpy()
            scored = scored.assign(**_answers(out, contract, threshold))
            scored["model_version"], scored["data_version"] = str(version.version), data_version
            if csv:
                scored.to_csv(tmp, mode="a", header=rows == 0, index=False)
            else:
                table = pa.Table.from_pandas(scored, preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            rows += len(chunk)
        if writer is not None:
            writer.close()
        if not tmp.exists():
            raise ValueError(f"{inputs.source} holds no records; nothing was scored")
        os.replace(tmp, inputs.out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return Scored(rows, inputs.out, str(version.version), data_version)

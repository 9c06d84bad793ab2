"""Track (owner: data scientist): record a trained model in MLflow with everything needed to trust it.

Takes the DVC outputs of train/evaluate (model, threshold, metrics, plots), the params and the data
version; hands over an MLflow run holding params, metrics, the model (signature, input example), the
training data as a dataset input, a reference sample for drift monitoring, and lineage tags. Tracking is
idempotent: a model DVC already built (same md5) maps to the run that recorded it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from pydantic import BaseModel, ConfigDict

from pipelines.core import artifacts
from pipelines.core.contract import Contract
from pipelines.core.dataset import read_split
from pipelines.core.lineage import check_trigger, configure_mlflow
from pipelines.core.ownership import stage, tags_for
from pipelines.core.scoring import predict


@dataclass(frozen=True)
class TrackResult:
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    reused: bool


class MlflowTarget(BaseModel):
    """Where the run is recorded: the tracking store, the artifact root of a new experiment (empty: the
    tracking server's own), and the experiment's name."""

    model_config = ConfigDict(frozen=True)
    tracking_uri: str
    artifact_location: str
    experiment: str


class RunLineage(BaseModel):
    """Why and from what the model was trained, tagged on the run so any prediction can be traced back."""

    model_config = ConfigDict(frozen=True)
    data_version: str
    model_md5: str
    git_commit: str
    trigger: str
    trigger_reason: str = ""


class TrackInputs(BaseModel):
    """What the track stage takes: the files `train` and `evaluate` handed over, where to record them, and the
    run's lineage."""

    model_config = ConfigDict(frozen=True)
    store: MlflowTarget
    lineage: RunLineage
    model_dir: Path
    metrics_dir: Path
    plots_dir: Path
    dataset_dir: Path
    params: dict[str, Any]
    reference_rows: int
    contract: Contract


def get_or_create_experiment(name: str, artifact_location: str) -> str:
    import mlflow

    # MLflow 3's UI opens an experiment in its GenAI (traces) view unless it is marked as model training.
    kind = {"mlflow.experimentKind": "custom_model_development"}
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        if "mlflow.experimentKind" not in exp.tags:
            mlflow.MlflowClient().set_experiment_tag(exp.experiment_id, *next(iter(kind.items())))
        return str(exp.experiment_id)
    location = artifact_location or None  # empty: the tracking server's own artifact store
    return str(mlflow.create_experiment(name, artifact_location=location, tags={**tags_for("track"), **kind}))


SCHEMA_ROWS = 1000  # rows MLflow's dataset schema is inferred from; the column types are the same as in all


def training_dataset(train: pd.DataFrame, source: str, name: str, target: str, digest: str) -> Any:
    """MLflow's record of the training split (a pandas dataset: source, digest, schema, row count).

    MLflow infers the schema of text columns value by value: 0.6 s for the demo's 20,000 rows on 2 cores, and
    proportionally more for a user's millions. A seeded sample of rows gives the same column types (the split
    was checked against the contract), so the schema is inferred from that; the row count is the whole split's.
    """
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    dataset = from_pandas(train, source=source, name=name, targets=target, digest=digest)
    sample = train.sample(min(SCHEMA_ROWS, len(train)), random_state=0)
    # `schema` is a cached property of MLflow's dataset: filled here, it is not inferred again from every row.
    dataset.__dict__["schema"] = infer_signature(sample).inputs
    return dataset


@stage("track")
def run(inputs: TrackInputs) -> TrackResult:
    """Record one MLflow run for the model in `inputs.model_dir` (reusing the run that already holds a model
    with the same md5): params, holdout and validation metrics, the training dataset, the evaluation files and
    plots, the reference sample the monitor compares traffic with, and the model with its signature."""
    lineage = inputs.lineage
    trigger = check_trigger(lineage.trigger).value
    why = f"{trigger}: {lineage.trigger_reason}" if lineage.trigger_reason else trigger
    configure_mlflow(inputs.store.tracking_uri, create=True)
    import warnings
    from importlib.metadata import version

    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    experiment_id = get_or_create_experiment(inputs.store.experiment, inputs.store.artifact_location)
    metrics = {k: float(v) for k, v in json.loads((inputs.metrics_dir / artifacts.HOLDOUT_METRICS).read_text()).items()}
    found = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.`relay.model_md5` = '{lineage.model_md5}' and attributes.status = 'FINISHED'",
        max_results=1,
        output_format="list",
    )
    if found:
        run_ = found[0]
        return TrackResult(run_.info.run_id, str(run_.data.tags["relay.model_uri"]), metrics, reused=True)

    model = joblib.load(inputs.model_dir / artifacts.MODEL)
    info = json.loads((inputs.model_dir / artifacts.MODEL_INFO).read_text())
    train = read_split(inputs.dataset_dir, "train")
    features = inputs.contract.feature_columns()
    sample = train[features].sample(min(inputs.reference_rows, len(train)), random_state=0).reset_index(drop=True)
    example = sample.head(3)
    regression = inputs.contract.task == "regression"
    signature = infer_signature(example, model.predict(example) if regression else model.predict_proba(example))
    threshold = info.get("threshold")
    costs = info.get("threshold_costs", {})
    decided = f"Decision threshold {threshold} chosen on a validation slice for costs {costs}. " if threshold else ""
    tags = {
        **tags_for("track"),
        "relay.data_version": lineage.data_version,
        "relay.git_commit": lineage.git_commit,
        "relay.trigger": trigger,
        # Why this run happened, in words: for a drift trigger, the monitor's finding (features, quality drop).
        **({"relay.trigger_reason": lineage.trigger_reason[:4000]} if lineage.trigger_reason else {}),
        "relay.model_md5": lineage.model_md5,
        **({"relay.threshold": str(threshold)} if threshold is not None else {}),
        "relay.task": inputs.contract.task,
        # The run's description in the MLflow UI: what a reader needs before the numbers.
        "mlflow.note.content": (
            f"Trained by the data scientist's `train` stage on data version `{lineage.data_version[:10]}` "
            f"({info['train_rows']} rows; trigger: {why}), "
            f"evaluated on its holdout by `evaluate` ({inputs.contract.task}). {decided}"
            "Plots: artifacts `plots/`; weakest segments: `evaluation/segments.json`. "
            f"Restore the data with `relay data checkout {lineage.data_version[:10]}`."
        ),
    }
    # Pinned explicitly: MLflow's own inference runs the model in a subprocess, slow and no better here.
    requirements = [f"{p}=={version(p)}" for p in ("mlflow", "scikit-learn", "pandas", "numpy", "skops")]
    with warnings.catch_warnings():
        # MLflow's hints about local dataset sources and integer columns do not apply to these inputs.
        warnings.simplefilter("ignore", UserWarning)
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"train-{lineage.data_version[:8]}", tags=tags
        ) as active:
            flat = pd.json_normalize(inputs.params, sep=".").iloc[0]  # train.model.kind, evaluate.segments, ...
            mlflow.log_params({str(k): v for k, v in flat.items()})
            mlflow.log_params({"threshold": threshold, "train_rows": info["train_rows"]})
            mlflow.log_metrics(metrics)
            # The validation slice chose the threshold; its numbers next to the holdout's show overfitting.
            mlflow.log_metrics({f"validation_{k}": float(v) for k, v in info.get("validation", {}).items()})
            dataset = training_dataset(
                train,
                str(inputs.dataset_dir / "train"),
                f"{inputs.contract.name}-train",
                inputs.contract.target,
                lineage.data_version[:8],
            )
            mlflow.log_input(dataset, context="training", tags={"dvc_md5": lineage.data_version})
            # Evaluation JSON and the PNG plots, as the DVC stage wrote them.
            for folder in (inputs.metrics_dir, inputs.plots_dir):
                mlflow.log_artifacts(str(folder), artifact_path=folder.name)
            segments = json.loads((inputs.metrics_dir / artifacts.SEGMENT_METRICS).read_text())
            # A table artifact: the MLflow UI shows it sortable, so the weakest segments are one click away.
            mlflow.log_table(
                pd.DataFrame([{"segment": k, **v} for k, v in segments.items()]), "evaluation/segments.json"
            )
            mlflow.log_dict(info, artifacts.MODEL_INFO)
            with tempfile.TemporaryDirectory() as tmp:
                # The monitor compares live traffic with this sample, predictions included.
                ref = sample.assign(
                    prediction=predict(model, sample, inputs.contract.task, len(inputs.contract.labels))
                )
                ref_path = Path(tmp) / artifacts.REFERENCE_FILE
                ref.to_parquet(ref_path, index=False)
                mlflow.log_artifact(str(ref_path), artifact_path=artifacts.REFERENCE_DIR)
            trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
            logged = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                pyfunc_predict_fn="predict" if regression else "predict_proba",
                skops_trusted_types=trusted,
                pip_requirements=requirements,
                metadata={"threshold": threshold, "task": inputs.contract.task, "data_version": lineage.data_version},
            )
            mlflow.set_tag("relay.model_uri", logged.model_uri)
            return TrackResult(active.info.run_id, logged.model_uri, metrics, reused=False)
